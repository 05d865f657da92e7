"""Command-line flags and config files become one TrainConfig; bad input exits with code 2.

No training runs here: every `main` call stops at the settings.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mnist_tui import cli, headless, run_cli
from mnist_tui.cli import build_parser, config_from_args, main
from mnist_tui.core.config import FIELD_NAMES, ConfigError, TrainConfig
from mnist_tui.core.errors import EXIT_BAD_INPUT
from mnist_tui.core.presets import PRESETS


@pytest.fixture(autouse=True)
def no_training(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make sure no test here ever starts a run: accepted settings would fail loudly."""

    def refuse(*args: object, **kwargs: object) -> int:
        raise AssertionError("a run was started; these tests must stop at the settings")

    monkeypatch.setattr(headless, "run_headless", refuse)
    monkeypatch.setattr(cli, "run_tui", refuse)
    monkeypatch.setattr(run_cli, "run_tui", refuse)


def config_for(argv: list[str]) -> TrainConfig:
    return config_from_args(build_parser().parse_args(argv))


def write_toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_no_flags_gives_the_defaults() -> None:
    assert config_for([]) == TrainConfig()


def test_every_field_has_a_flag() -> None:
    help_text = build_parser().format_help()
    for name in FIELD_NAMES:
        assert "--" + name.replace("_", "-") in help_text, name
    assert "default 0.01" in help_text
    assert "default rmsprop" in help_text
    assert "default float32" in help_text


def test_flags_set_the_config() -> None:
    config = config_for(["--epochs", "3", "--batch-size", "128", "--learning-rate", "1e-3",
                         "--optimizer", "ADAM", "--validation-split", "0.2",
                         "--train-size", "3000", "--seed", "7", "--model", "dense",
                         "--conv1-filters", "8", "--conv2-filters", "16",
                         "--conv3-filters", "16", "--kernel-size", "4",
                         "--dense-units", "32", "--precision", "bfloat16"])
    assert config == TrainConfig(epochs=3, batch_size=128, learning_rate=0.001,
                                 optimizer="adam", validation_split=0.2, train_size=3000,
                                 seed=7, model="dense", conv1_filters=8, conv2_filters=16,
                                 conv3_filters=16, kernel_size=4, dense_units=32,
                                 precision="bfloat16")


def test_flags_for_dropout_schedules_early_stopping_and_tensorboard() -> None:
    config = config_for(["--dropout", "0.3", "--lr-schedule", "step", "--lr-factor", "0.2",
                         "--lr-patience", "2", "--early-stopping", "4", "--tensorboard"])
    assert config == TrainConfig(dropout=0.3, lr_schedule="step", lr_factor=0.2,
                                 lr_patience=2, early_stopping=4, tensorboard=True)
    assert config_for(["--tensorboard", "no"]).tensorboard is False


def test_preset_flag_and_what_wins_over_it(tmp_path: Path) -> None:
    assert config_for(["--preset", "accurate"]) == PRESETS["accurate"]
    assert config_for(["--preset", "quick"]) == PRESETS["quick"]
    settings = write_toml(tmp_path, 'epochs = 2\noptimizer = "sgd"\n')
    config = config_for(["--preset", "accurate", "--config", str(settings), "--epochs", "4"])
    assert config == replace(PRESETS["accurate"], epochs=4, optimizer="sgd"), (
        "the file wins over the preset, a flag over both")


def test_an_unknown_preset_exits_with_code_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--preset", "fast", "--headless"])
    assert info.value.code == EXIT_BAD_INPUT
    assert "--preset: invalid choice: 'fast' (choose from " in capsys.readouterr().err


def test_blank_seed_means_random() -> None:
    assert config_for(["--seed", ""]).seed is None


def test_config_file(tmp_path: Path) -> None:
    path = write_toml(tmp_path, 'epochs = 4\nlearning-rate = 0.001\noptimizer = "adam"\n'
                                "seed = 11\n")
    config = config_for(["--config", str(path)])
    assert config == TrainConfig(epochs=4, learning_rate=0.001, optimizer="adam", seed=11)


def test_config_file_train_table(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "[train]\nbatch_size = 32\ntrain_size = 1000\n")
    config = config_for(["--config", str(path)])
    assert (config.batch_size, config.train_size) == (32, 1000)


def test_flags_override_the_config_file(tmp_path: Path) -> None:
    path = write_toml(tmp_path, 'epochs = 4\nbatch_size = 32\noptimizer = "adam"\n')
    config = config_for(["--config", str(path), "--epochs", "2", "--optimizer", "sgd"])
    assert (config.epochs, config.batch_size, config.optimizer) == (2, 32, "sgd")


def test_a_flag_can_fix_a_bad_value_in_the_file(tmp_path: Path) -> None:
    path = write_toml(tmp_path, "learning_rate = 0\n")
    assert config_for(["--config", str(path), "--learning-rate", "0.1"]).learning_rate == 0.1


def test_config_from_args_names_the_flags() -> None:
    with pytest.raises(ConfigError) as info:
        config_for(["--learning-rate", "0", "--epochs", "x"])
    assert info.value.errors == {
        "--learning-rate": "learning rate must be > 0 and ≤ 10, got 0",
        "--epochs": "epochs must be a whole number, got 'x'",
    }


@pytest.mark.parametrize(("argv", "expected"), [
    (["--learning-rate", "0"], "--learning-rate: learning rate must be > 0 and ≤ 10, got 0"),
    (["--learning-rate", "nan"], "--learning-rate: learning rate must be a finite number"),
    (["--epochs", "x"], "--epochs: epochs must be a whole number, got 'x'"),
    (["--epochs", "0"], "--epochs: epochs must be between 1 and 1000, got 0"),
    (["--validation-split", "1"], "--validation-split: validation split must be between 0 "
                                  "and 1 (both excluded), got 1"),
    (["--validation-split", "0"], "--validation-split: validation split must be between 0"),
    (["--batch-size", "99999"], "--batch-size: batch size must be between 1 and 8192, "
                                "got 99999"),
    (["--train-size", "100", "--validation-split", "0.5", "--batch-size", "51"],
     "--batch-size: batch size must be at most the 50 training images"),
    (["--optimizer", "lbfgs"], "--optimizer: optimizer must be one of rmsprop, adam"),
    (["--seed", "-1"], "--seed: seed must be between 0 and 4294967295, got -1"),
    (["--kernel-size", "5"], "--kernel-size: kernel size must be between 1 and 4, got 5"),
    (["--model", "rnn"], "--model: model must be one of cnn, dense"),
    (["--dropout", "1"], "--dropout: dropout must be a number from 0 to 0.9, got 1"),
    (["--lr-schedule", "plateau", "--lr-factor", "2"],
     "--lr-factor: lr drop factor must be a number between 0 and 1 (both excluded), got 2"),
    (["--precision", "fp16"], "--precision: precision must be one of float32, bfloat16, auto, "
                              "got 'fp16'"),
])
def test_main_rejects_bad_flags(argv: list[str], expected: str,
                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*argv, "--headless"]) == EXIT_BAD_INPUT == 2
    captured = capsys.readouterr()
    assert "invalid settings" in captured.err
    assert expected in captured.err
    assert captured.out == "", "nothing on stdout: it is for the JSON summary"


def test_main_reports_every_bad_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--headless", "--learning-rate", "0", "--epochs", "x",
                 "--batch-size", "99999"]) == 2
    err = capsys.readouterr().err
    for flag in ("--learning-rate:", "--epochs:", "--batch-size:"):
        assert flag in err


def test_main_rejects_a_bad_value_in_the_config_file(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = write_toml(tmp_path, "validation_split = 1.5\n")
    assert main(["--headless", "--config", str(path)]) == 2
    assert "validation split must be between 0 and 1" in capsys.readouterr().err


def test_main_rejects_an_unknown_key_in_the_config_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_toml(tmp_path, "epochs = 2\nlearning_rat = 0.1\n")
    assert main(["--headless", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "unknown settings: learning_rat" in err
    assert str(path) in err
    assert "learning_rate" in err  # what is allowed


@pytest.mark.parametrize(("text", "phrase"), [
    (None, "does not exist"),
    ("epochs = = 2\n", "is not valid TOML"),
])
def test_main_rejects_a_missing_or_malformed_config_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str | None,
        phrase: str) -> None:
    path = tmp_path / "settings.toml"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    assert main(["--headless", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert phrase in err
    assert str(path) in err


def test_unknown_flag_exits_with_code_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--colour", "red", "--headless"])
    assert info.value.code == 2
    assert "unrecognized arguments: --colour red" in capsys.readouterr().err


def test_a_flag_without_its_value_exits_with_code_2(
        capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--headless", "--epochs"])
    assert info.value.code == 2
    assert "--epochs" in capsys.readouterr().err


def test_the_guard_against_training_works() -> None:
    with pytest.raises(AssertionError, match="a run was started"):
        main(["--headless", "--train-size", "100"])


def test_the_app_prepares_its_run_in_a_process_unless_no_run_starts_from_its_form() -> None:
    from mnist_tui.launch import wants_preload
    from mnist_tui.run_cli import build_watch_parser

    parse = build_parser().parse_args
    assert wants_preload(parse([]), runs_detached=False)  # the default
    assert not wants_preload(parse(["--no-preload"]), runs_detached=False)
    assert not wants_preload(parse(["--start"]), runs_detached=False)  # trains at once
    assert not wants_preload(parse(["--detach"]), runs_detached=False)
    assert not wants_preload(parse([]), runs_detached=True)  # a browser tab's app
    assert not wants_preload(build_watch_parser().parse_args(["some-run"]), runs_detached=False)
