"""AllenNLP subcommands added by sledgehammer (registered on import)."""
from sledgehammer.commands.calibrate import Calibrate, CalibrationError, calibrate_archive
from sledgehammer.commands.tradeoff import Tradeoff, TradeoffError, run_tradeoff
from sledgehammer.commands.serve_early_exit import ServeEarlyExit, serve_archive
from sledgehammer.commands.predict_corpus import PredictCorpus
from sledgehammer.commands.serve_ray import ServeRay, serve_replicas
