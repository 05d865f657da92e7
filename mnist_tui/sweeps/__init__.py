"""Sweeps: an Optuna study that trains many runs of one search space, on one machine or many.

A sweep lives in a folder of its own under the runs folder (`sweeps/NAME/`: its plan in
`sweep.json`, its study in the Optuna journal file `journal.log` unless a storage URL was
given, its workers' output), and every trial is a normal run folder beside the others, tagged
with its sweep and trial number (`sweep_trial.json`). `study` opens the storage and the
study, `trial` trains one trial as a run (pruning it through the run's own control),
`worker` is a process that takes trials until the budget is spent, `launch` starts a sweep
and its workers, `progress` reads where a sweep stands for the screens and the CLI.

May import: `runs`, `training` and `core`, and Optuna. Only the front ends and the entry
import it. Never Textual or rich (import-linter, see pyproject.toml).
"""
