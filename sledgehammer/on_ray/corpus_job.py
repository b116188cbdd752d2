"""
A corpus prediction job on Ray Data (`allennlp predict-corpus`, docs/ray.md).

The input files are read by Ray Data read tasks (`corpus_source`), answered by a pool of `num_actors`
`CorpusPredictor` actors (`map_batches` with a callable class: one archive load per actor, `num_threads` CPUs and
torch threads each), and written by this process (`corpus_output`) in the input's order. An actor that dies is
restarted (`max_restarts`) and the batches it held are run again (`max_task_retries`); Ray Data keeps only the
outputs of the tasks that finished, so each row is written once. Ray Data shows the job's progress bars.
"""
import logging
import os
import time
from typing import Any, Dict, Optional, Sequence, Type

from sledgehammer.commands.archive_inputs import CommandInputError, check_archive_config
from sledgehammer.on_ray.cluster import RayUnavailable, import_ray, ray_connection
from sledgehammer.on_ray.corpus_output import CorpusOutput
from sledgehammer.on_ray.corpus_predictor import COMMAND, PREDICTED_MODELS, CorpusPredictor
from sledgehammer.on_ray.corpus_source import corpus_datasource, corpus_format

logger = logging.getLogger(__name__)

# With `min_fill`, each actor call gets this many forward passes' worth of rows to group by length.
GROUPED_PASSES = 8
# Rows per block of a read task, rounded down to a multiple of the actors' batch.
ROWS_PER_BLOCK = 4096
DEFAULT_MAX_RESTARTS = 3


def check_job_inputs(archive_file: str, inputs: Sequence[str], num_actors: int, batch_size: int,
                     num_threads: Optional[int], min_fill: Optional[float], max_restarts: int) -> None:
    """
    Checks the job's options, files and archive (its config only; the actors load it).

    # Raises

    `CommandInputError` naming the option or file at fault and what was expected.
    """
    for name, value, least in (("--num-actors", num_actors, 1), ("--batch-size", batch_size, 1),
                               ("--num-threads", num_threads, 1), ("--max-restarts", max_restarts, 0)):
        if value is not None and (not isinstance(value, int) or value < least):
            raise CommandInputError(f"{name} must be an integer of at least {least}, got {value!r}")
    if min_fill is not None and not 0.0 <= min_fill <= 1.0:
        raise CommandInputError(f"--min-fill must be in [0, 1], got {min_fill}")
    if not inputs:
        raise CommandInputError("expected at least one INPUT file")
    for path in inputs:
        if "://" not in path and not os.path.isfile(path):
            raise CommandInputError(f"INPUT {path} " + ("is a folder, expected a file" if os.path.isdir(path)
                                                         else "does not exist"))
        try:
            corpus_format(path)
        except ValueError as error:
            raise CommandInputError(str(error)) from None
    check_archive_config(archive_file, COMMAND, accepted=PREDICTED_MODELS)


def run_corpus_job(
    archive_file: str,
    inputs: Sequence[str],
    output_dir: str,
    num_actors: int = 1,
    batch_size: int = 32,
    num_threads: Optional[int] = None,
    overrides: str = "",
    address: Optional[str] = None,
    min_fill: Optional[float] = None,
    max_restarts: int = DEFAULT_MAX_RESTARTS,
    actor_class: Type[CorpusPredictor] = CorpusPredictor,
) -> Dict[str, Any]:
    """
    Answers every row of `inputs` with the archive and writes the output files (`corpus_output`). Returns the
    summary written to `exit_statistics.json`.

    # Parameters

    archive_file : `str`
        A `sledgehammer_classifier` or `sledgehammer_tagger` archive.
    inputs : `Sequence[str]`
        JSON-lines, CSV, TSV or Parquet files of the predictor's inputs (see `corpus_source`).
    output_dir : `str`
    num_actors : `int`, optional (default = `1`)
        Actors of the pool, each with its own copy of the model.
    batch_size : `int`, optional (default = `32`)
        Most rows in one forward pass.
    num_threads : `int`, optional (default = `None`)
        CPUs Ray reserves for each actor and its torch threads; `None`: 1 CPU, torch's own thread count.
    overrides : `str`, optional (default = `""`)
    address : `str`, optional (default = `None`)
        A Ray cluster to join; `None` starts Ray on this machine (`cluster.ray_connection`).
    min_fill : `float`, optional (default = `None`)
        `None` runs the rows in their order, in batches as `allennlp predict --batch-size` forms them; a share in
        [0, 1] groups each actor's rows by length with the server's rule.
    max_restarts : `int`, optional (default = `3`)
        How often an actor that died is restarted (its batches are retried as often).
    actor_class : `Type[CorpusPredictor]`, optional (default = `CorpusPredictor`)
        The actor (a subclass, to observe or disturb the job in tests).

    # Raises

    `CommandInputError` for unusable options, files or archives.
    """
    check_job_inputs(archive_file, inputs, num_actors, batch_size, num_threads, min_fill, max_restarts)
    rows_per_call = batch_size * (GROUPED_PASSES if min_fill is not None else 1)
    rows_per_block = max(1, ROWS_PER_BLOCK // rows_per_call) * rows_per_call
    started = time.perf_counter()
    try:
        import_ray()
    except RayUnavailable as error:
        raise CommandInputError(f"{COMMAND} {error}") from None
    with ray_connection(address) as ray:
        ray.data.DataContext.get_current().execution_options.preserve_order = True
        # One block stream per file (no splitting), so batches start where `allennlp predict`'s do.
        dataset = ray.data.read_datasource(corpus_datasource(inputs, rows_per_block), override_num_blocks=len(inputs),
                                           num_cpus=0)
        answered = dataset.map_batches(
            actor_class,
            fn_constructor_kwargs=dict(archive_file=os.path.abspath(archive_file) if "://" not in archive_file
                                       else archive_file, batch_size=batch_size, overrides=overrides,
                                       num_threads=num_threads, min_fill=min_fill),
            batch_size=rows_per_call,
            batch_format="numpy",
            concurrency=num_actors,
            num_cpus=num_threads or 1,
            max_restarts=max_restarts,
            max_task_retries=max_restarts,
        )
        first_output = None
        with CorpusOutput(output_dir, inputs) as output:
            for batch in answered.iter_batches(batch_size=None, batch_format="numpy"):
                if first_output is None:
                    first_output = time.perf_counter() - started
                output.write(batch)
    return output.write_summary({
        "archive": archive_file, "inputs": list(inputs), "num_actors": num_actors, "batch_size": batch_size,
        "num_threads": num_threads, "min_fill": min_fill, "seconds": time.perf_counter() - started,
        # Ray's start (without --address), the read and the actors' start and archive loading come before this.
        "first_output_seconds": first_output,
    })
