"""Run folders: a run belongs to its folder, not to the terminal that started it.

Holds writing a folder (`writer`), reading and following its log (`reading`), listing a runs
folder (`listing`), training a config into a folder (`driver`), the control channel other
processes steer a run through (`channel`), signals and hang-ups (`signals`), resuming from a
checkpoint (`resume`), background runs (`detach`), a process started ahead of its run that
trains it (`warm_process`, `warm_child`), the runs table and CSV (`compare`) and the model a
finished run left, for drawing (`digit_reader`).

May import: `mnist_tui.core` and `mnist_tui.training` (to start a run). Never a front end,
Textual or rich.
"""
