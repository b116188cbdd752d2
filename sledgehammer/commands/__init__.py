"""AllenNLP subcommands added by sledgehammer (registered on import)."""
from sledgehammer.commands.calibrate import Calibrate, CalibrationError, calibrate_archive
