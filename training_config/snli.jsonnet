// SNLI (or any NLI pairs): premise and hypothesis encoded as one sequence in the encoder's pair format.
// See lib/nli.libsonnet for the accepted file formats.
local lib = import 'lib/sledgehammer.libsonnet';
local nli = import 'lib/nli.libsonnet';

local train = lib.env('TRAIN_DATA', 'snli_1.0/snli_1.0_train.jsonl');
local readers = nli.readers(train);

lib.experiment(
  readers.train,
  validation_reader=readers.validation,
  train=train,
  dev=lib.env('DEV_DATA', 'snli_1.0/snli_1.0_dev.jsonl'),
  test=lib.env('TEST_DATA', ''),
  learning_rate=3e-5,
)
