"""Operations on existing runs (cancel, resume), for every stage and for pipelines: above the
launcher, the stages and the pipeline, which it drives."""
