"""Load a model folder in the eval stage's vLLM engine and generate (run as a script: vLLM spawns)."""

import sys

from s1slurm.eval.engines import EngineConfig, Request, StopRule, load_engine

if __name__ == "__main__":
    engine = load_engine(EngineConfig(kind="vllm", model=sys.argv[1], dtype="bfloat16", max_model_len=1024,
                                      gpu_memory_utilization=0.1,
                                      # in this process: no engine-core or worker processes to start
                                      engine_args={"enforce_eager": True, "distributed_executor_backend": "uni"},
                                      env={"VLLM_ENABLE_V1_MULTIPROCESSING": "0"}))
    prompt = engine.tokenizer.apply_chat_template([{"role": "user", "content": "What is 2+3?"}],
                                                  add_generation_prompt=True, tokenize=True,
                                                  return_dict=True)["input_ids"]
    [gen] = engine.generate([Request(prompt=tuple(prompt), max_tokens=8, stop=StopRule(), seed=0)])
    print(f"GENERATED {len(gen.token_ids)} tokens", flush=True)
    engine.close()
