"""
HTTP serving of early-exit archives with dynamic batching (`allennlp serve-early-exit`, docs/serving.md).

One concern a module: `inputs` (request bodies into rows), `batch_selection` (which rows share a batch),
`batcher` (the queue and the batching loop), `model_runner` (the predictor on the inference thread),
`metrics` (Prometheus), `limits` (the options and their defaults), `app` (the Starlette routes), `server`
(uvicorn, signals and draining) and `server_process` (the command as a child process). All but
`batch_selection` and `limits` need the `serve` extra (Starlette, uvicorn, prometheus_client, httpx), so
this package imports none of them itself: importing sledgehammer (every `allennlp` command) stays free of them.
"""
