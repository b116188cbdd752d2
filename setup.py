from setuptools import find_packages, setup

setup(
    name="sledgehammer",
    version="0.1.0",
    description="Calibrated early-exit transformer classifiers and sequence taggers for AllenNLP 2.10",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(exclude=["tests", "tests.*", "scripts"]),
    python_requires=">=3.8,<3.11",
    install_requires=[
        "allennlp==2.10.1",
        "numpy<2",
        "matplotlib>=3.3",
        "safetensors>=0.3",
    ],
    extras_require={
        "test": ["pytest>=7"],
        # `allennlp serve-early-exit` (sledgehammer/serving) and its load generator (scripts/load_test.py).
        # Starlette rather than FastAPI: FastAPI's releases that accept pydantic v1 do not import with the
        # pydantic 1.8 that spaCy 3.3 under AllenNLP fixes. httpx: Starlette's TestClient and the tests' clients.
        # aiohttp: the load generator's clients (a small fraction of httpx's CPU per request at 64 connections,
        # docs/results/serving.md).
        # httptools and uvloop: the C HTTP parser and event loop uvicorn uses when they are installed.
        "serve": ["starlette>=0.27", "uvicorn>=0.22", "httptools>=0.6", "uvloop>=0.19", "prometheus_client>=0.16",
                  "httpx>=0.24", "aiohttp>=3.8"],
        # scripts/benchmark_onnx.py: the ONNX Runtime peer of the early-exit model (1.24 and later need Python >= 3.11).
        "bench": ["onnxruntime==1.23.2", "onnx"],
        # `allennlp predict-corpus` and `allennlp serve-ray` (sledgehammer/on_ray): Ray Data's actor pools for corpus
        # prediction, Ray Serve's replicas for serving. Ray Serve imports FastAPI, and FastAPI 0.125 (the newest
        # that still accepts pydantic v1) fails to import with the pydantic 1.8 that spaCy 3.3 under AllenNLP
        # fixes (its `list["SchemaOrBool"]` annotations need pydantic 1.9); 0.124 imports and serves.
        "ray": ["ray[data,serve]==2.53.0", "fastapi<0.125"],
    },
)
