// Self-sampling fine-tuning (Li et al., ACL 2021, stage 2) of a trained `sledgehammer_tagger`: a second training
// run that starts from the stage-1 archive (its weights and its vocabulary) and trains token-level exit as it runs
// at inference. The `sledgehammer_self_sampling` trainer callback caches the stage-1 model's per-exit scores on
// the training data before the first step (`self_sampling_scores.npz` in the serialization directory); each
// training sentence then gets a window from `windows` and a threshold 1 - u, u uniform in [0, max_uncertainty],
// the model's halting rule is replayed on the cached scores to decide where each word halts, and the model trains
// with halted words' states copied upward and each exit's loss over the words still running there. A share of each
// batch gets the most aggressive setting (the smallest window, u = max_uncertainty), a share no early exit.
{
  // `experiment`: the stage-1 task's `tagging.experiment(...)` (same reader, data, encoder); `initial_archive`:
  // the stage-1 model.tar.gz. The encoder (TRANSFORMER_MODEL) must be the stage-1 one; the model checks it.
  stage_two(experiment, initial_archive, windows=[1, 3, 5, 7, 9, 11, 13, 15], max_uncertainty=0.25,
            aggressive_share=0.125, full_share=0.125):: experiment {
    // The stage-1 tags in the stage-1 order (the archive's vocabulary), not a vocabulary made from the data.
    vocabulary: { type: 'from_files', directory: initial_archive },
    model+: {
      initial_archive: initial_archive,
      // Li et al.'s uncertainty: a word's score is 1 - normalised entropy, so threshold 1 - u allows entropy u.
      // The archive keeps this policy; at inference choose the threshold on the same scale
      // (`--overrides '{"threshold": 0.85, "window": 5}'`: normalised entropy at most 0.15).
      exit_policy: { type: 'entropy' },
      exit_mode: 'token',
      window: 5,
    },
    trainer+: {
      callbacks+: [{
        type: 'sledgehammer_self_sampling',
        windows: windows,
        max_uncertainty: max_uncertainty,
        aggressive_share: aggressive_share,
        full_share: full_share,
        seed: experiment.random_seed,
      }],
    },
  },
}
