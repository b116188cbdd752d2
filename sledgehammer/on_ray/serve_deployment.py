"""
The served model as Ray Serve replicas (`allennlp serve-ray`, docs/ray.md).

Each replica loads the archive once (the checks and safe loading of every command), warms it up, and answers the
API of `allennlp serve-early-exit` that does not depend on the single process: `POST /predict` (one input or a
list, checked by `sledgehammer.serving.inputs.parse_body`, each answer byte for byte what `allennlp predict`
writes) and `GET /health`. The inputs of a request are separate items of Ray Serve's `@serve.batch` queue, which
forms a batch at `max_batch_size` items or `batch_wait_timeout_s` after the first; the batch is then cut into
forward passes by the server's rule (`select_batch`: one settings key a pass, rows of like length down to
`min_fill`), each run by the server's `ModelRunner` on the replica's one inference thread, off the event loop.
Rows with different thresholds share a pass, as in the server.

Ray Serve's router spreads requests over the replicas; its proxy (bound to `host`, 127.0.0.1 by default) is the
HTTP server. The server's queue limits, timeouts and `/metrics` are Ray Serve's here (`max_ongoing_requests`, its
own metrics); this module adds none of them.
"""
import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional

from sledgehammer.common.cli_errors import one_line

APP_NAME = "sledgehammer"
DEFAULT_MAX_ONGOING_REQUESTS = 256
JSON_TYPE = "application/json"


def replica_class(serve: Any) -> type:
    """The deployment's class, made with Ray Serve's `serve` module (imported by the caller only)."""
    from starlette.requests import Request
    from starlette.responses import Response

    class EarlyExitReplica:
        """
        One replica: a `ModelRunner` on an inference thread behind `@serve.batch`.

        # Parameters

        archive_file : `str`
        overrides : `str`
        max_batch_size : `int`
        batch_wait_timeout_s : `float`
        min_fill : `float`
        num_threads : `int`, optional
        """

        def __init__(self, archive_file: str, overrides: str, max_batch_size: int, batch_wait_timeout_s: float,
                     min_fill: float, num_threads: Optional[int] = None) -> None:
            import sledgehammer  # noqa: F401  (registers the components, installs the safe loading)
            from sledgehammer.commands.archive_inputs import check_archive_config, load_checked_archive
            from sledgehammer.on_ray.corpus_predictor import PREDICTED_MODELS
            from sledgehammer.serving.model_runner import ModelRunner, threads_for_inference

            check_archive_config(archive_file, "serve-ray", accepted=PREDICTED_MODELS)
            inference_threads = threads_for_inference(num_threads)
            archive = load_checked_archive(archive_file, -1, overrides, accepted=PREDICTED_MODELS)
            self.runner = ModelRunner(archive, num_threads=inference_threads)
            self.max_batch_size = max_batch_size
            self.min_fill = min_fill
            self.inference = ThreadPoolExecutor(1, thread_name_prefix="inference", initializer=self.runner.set_threads)
            self.inference.submit(self.runner.warm_up, max_batch_size).result()
            self.answer_rows.set_max_batch_size(max_batch_size)
            self.answer_rows.set_batch_wait_timeout_s(batch_wait_timeout_s)

        @serve.batch(max_batch_size=32, batch_wait_timeout_s=0.005)
        async def answer_rows(self, rows: List[Any]) -> List[Any]:
            """The answers (`allennlp predict` lines without the newline) to a batch of rows, in their order; a
            forward pass that raised gives its rows the exception instead."""
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self.inference, self._answer_in_passes, rows)

        def _answer_in_passes(self, rows: List[Any]) -> List[Any]:
            from sledgehammer.serving.batch_selection import select_batch

            answers: List[Any] = [None] * len(rows)
            waiting = list(range(len(rows)))
            while waiting:
                chosen = select_batch([rows[i].length for i in waiting], [rows[i].settings for i in waiting],
                                      self.max_batch_size, self.min_fill)
                positions = [waiting[i] for i in chosen]
                try:
                    outputs = self.runner.run_batch([rows[i] for i in positions])
                    for position, output in zip(positions, outputs):
                        answers[position] = self.runner.predictor.dump_line(output).rstrip("\n")
                except Exception as error:  # noqa: BLE001  (the pass's requests fail, the replica goes on)
                    for position in positions:
                        answers[position] = error
                taken = set(positions)
                waiting = [i for i in waiting if i not in taken]
            return answers

        async def __call__(self, request: Request) -> Response:
            from sledgehammer.serving.inputs import RequestError, parse_body

            path = request.url.path.rstrip("/")
            if path.endswith("/health") and request.method == "GET":
                return _json(200, {"status": "ok", "model": self.runner.kind, "exit_layers": self.runner.exit_layers})
            if not path.endswith("/predict") or request.method != "POST":
                return _json(404, {"error": "not_found", "message": "expected POST /predict or GET /health"})
            try:
                rows, is_list = parse_body(await request.body(), self.runner.predictor, self.runner.exit_modes)
            except RequestError as error:
                return _json(error.status, {"error": error.kind, "message": error.message})
            answers = await asyncio.gather(*(self.answer_rows(row) for row in rows))
            failed = next((answer for answer in answers if isinstance(answer, BaseException)), None)
            if failed is not None:
                return _json(500, {"error": "model_error", "message": f"the batch failed: {one_line(failed)}"})
            body = "[" + ", ".join(answers) + "]" if is_list else answers[0]
            return Response(body, media_type=JSON_TYPE)

    def _json(status: int, content: Dict[str, Any]) -> Response:
        return Response(json.dumps(content), status_code=status, media_type=JSON_TYPE)

    return EarlyExitReplica


def build_app(archive_file: str, num_replicas: int = 1, overrides: str = "", max_batch_size: int = 32,
              max_wait_ms: float = 5.0, min_fill: float = 0.75, num_threads: Optional[int] = None,
              max_ongoing_requests: int = DEFAULT_MAX_ONGOING_REQUESTS):
    """
    The Ray Serve application of `archive_file` (for `serve.run`).

    # Parameters

    archive_file : `str`
        A `sledgehammer_classifier` or `sledgehammer_tagger` archive, readable where the replicas run.
    num_replicas : `int`, optional (default = `1`)
    overrides : `str`, optional (default = `""`)
    max_batch_size : `int`, optional (default = `32`)
        Most inputs in one `@serve.batch` batch and in one forward pass.
    max_wait_ms : `float`, optional (default = `5.0`)
        `batch_wait_timeout_s` in milliseconds.
    min_fill : `float`, optional (default = `0.75`)
        The server's smallest fill of a forward pass (`select_batch`).
    num_threads : `int`, optional (default = `None`)
        CPUs each replica reserves and torch threads of its inference thread; `None`: 1 CPU, torch's threads.
    max_ongoing_requests : `int`, optional (default = `256`)
        Requests a replica holds at once (Ray Serve queues more in its router).
    """
    from ray import serve

    deployment = serve.deployment(
        replica_class(serve),
        name="EarlyExitReplica",
        num_replicas=num_replicas,
        max_ongoing_requests=max(max_ongoing_requests, max_batch_size),
        ray_actor_options={"num_cpus": num_threads or 1},
    )
    return deployment.bind(archive_file, overrides, max_batch_size, max_wait_ms / 1000.0, min_fill, num_threads)
