"""Everything about a run once it is planned, for any stage (never imported by name here): the
backends that turn it into local processes or SLURM jobs (through submitit), the task each job
runs, the records of its submissions, the scheduler queries, the state of its tasks and their logs,
and the one ``afterok`` rule every chain uses."""
