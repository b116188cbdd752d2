"""
HTTP serving of early-exit archives with dynamic batching (`allennlp serve-early-exit`, docs/serving.md).

One concern a module: `inputs` (request bodies into rows), `batch_selection` (which rows share a batch),
`batcher` (the queue and the batching loop), `model_runner` (the predictor on the inference thread),
`metrics` (Prometheus), `limits` (the options and their defaults), `app` (the Starlette routes) and
`server` (uvicorn, signals and draining). Needs the `serve` extra (Starlette, uvicorn, prometheus_client).
"""
from sledgehammer.serving.app import ServingState, build_app
from sledgehammer.serving.batch_selection import select_batch
from sledgehammer.serving.limits import ServingLimits
from sledgehammer.serving.model_runner import ModelRunner
from sledgehammer.serving.server import make_server, run_until_stopped
