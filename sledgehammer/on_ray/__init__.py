"""
Early exit past one process, on Ray (docs/ray.md): `allennlp predict-corpus` runs an archive over a corpus with
Ray Data (an actor pool, one model load per actor), `allennlp serve-ray` serves it as Ray Serve replicas.

One concern a module: `corpus_source` (input files into numbered rows), `corpus_predictor` (the actor that
answers them), `corpus_output` (the output files and the exit statistics), `corpus_job` (the job), `cluster`
(starting or joining Ray) and `serve_deployment` (the Ray Serve deployment). Ray is the `ray` extra; this
package imports it only inside the functions that need it, so importing sledgehammer stays free of it. (The
package is not named `ray`: AllenNLP's `--include-package` walks subpackages with `pkgutil.walk_packages`, which
imports them by their bare name, and would import the top-level `ray` and all of its own subpackages.)
"""
