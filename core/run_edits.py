"""Renaming and deleting a run folder or a saved race. A delete removes only the files this
project writes there, by their names (in the run's best/ checkpoint too), and a folder only once
nothing else is left; neither happens while a process trains or races into the folder (it holds
the folder's lock)."""

from __future__ import annotations

import fcntl
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from core.checkpoint.best import BEST_FOLDER
from core.checkpoint.manifest import MANIFEST
from core.checkpoint.run_folder import LOCK_NAME, METRICS_FILE, NOTE_FILE
from core.checkpoint.store import PENDING, is_own_tensor_file, is_temp_file
from core.errors import UserError
from core.experiments import RESULTS_FILE
from core.run_export import is_export_file
from core.runs import COMMAND_FILE, EXPERIMENTS_FOLDER, RunSummary, lock_owner

# the names this project gives the files it writes into a run folder, and into a race's
RUN_OWN_FILES = {MANIFEST, PENDING, METRICS_FILE, COMMAND_FILE, "train.log", LOCK_NAME, NOTE_FILE}
RACE_OWN_FILES = {RESULTS_FILE, "race.log", LOCK_NAME, NOTE_FILE}
NAME_CHARACTERS = 100  # a run's name: what the table's first column can show


def _checkpoint_file(name: str) -> bool:
    return name in (MANIFEST, PENDING) or is_own_tensor_file(name) or is_temp_file(name)


def is_own_file(name: str, race: bool = False) -> bool:
    """A name this project gives a file it writes into a run folder (or a race's folder), or
    into the run's best/ checkpoint as best/NAME."""
    folder, _, base = name.rpartition("/")
    if folder:
        return folder == BEST_FOLDER and not race and _checkpoint_file(base)
    if is_temp_file(name):
        return True
    if race:
        return name in RACE_OWN_FILES
    return name in RUN_OWN_FILES or is_own_tensor_file(name) or is_export_file(name)


def check_run_name(name: str) -> str:
    """`name` when it is a plain folder name a run can take; UserError saying what to change."""
    if not name.strip():
        raise UserError("a run needs a name: type one")
    if name != name.strip():
        raise UserError(f"{name!r} starts or ends with a space; remove it")
    if "/" in name or "\\" in name or name in (".", ".."):
        raise UserError(
            f"{name!r} is not a plain folder name: leave out / and \\ (a run is renamed in place)"
        )
    if name.startswith("."):
        raise UserError(f"{name!r} starts with a dot, which hides a folder; remove the dot")
    if not name.isprintable():
        raise UserError("a run's name is one line: remove its tabs and control characters")
    if len(name) > NAME_CHARACTERS or len(name.encode("utf-8")) > 255:
        raise UserError(f"a run's name holds at most {NAME_CHARACTERS} characters; shorten it")
    return name


def _editable(summary: RunSummary, doing: str) -> Path:
    """The folder of a run or race that can be edited now; UserError otherwise."""
    if summary.kind == "variant":
        raise UserError(
            f"{summary.name} is a variant of the race {summary.path.name}; select the race's "
            f"row to {doing} the race"
        )
    if not summary.path.is_dir():
        raise UserError(f"{summary.path} is gone; refresh the list of runs")
    return summary.path


def _in_use(directory: Path, owner: object, doing: str) -> UserError:
    return UserError(
        f"{directory.name} is in use by pid {owner} (training or racing into it); stop it "
        f"first, then {doing} it"
    )


@contextmanager
def _claimed(directory: Path, doing: str) -> Iterator[None]:
    """Hold the folder's lock while `doing`: no run starts training into it meanwhile, and one
    that trains now is named (UserError). A folder without a lock file has no run training in
    it (a run creates the file before its first step), and none is made for it."""
    flags = os.O_RDWR | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(directory / LOCK_NAME, flags)
    except FileNotFoundError:
        yield
        return
    except OSError as error:
        raise UserError(
            f"cannot {doing} {directory.name}: {directory / LOCK_NAME} cannot be opened "
            f"({error.strerror or error}); nothing was changed"
        ) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UserError(f"{directory / LOCK_NAME} is not a regular file; remove it")
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            raise _in_use(directory, owner, doing) from None
        yield
    finally:
        os.close(fd)  # drops the lock


def rename_run(summary: RunSummary, new_name: str) -> Path:
    """Rename a run's (or race's) folder within its own folder; returns the new path. UserError,
    nothing renamed, for a name that is not a plain folder name or is taken, or a folder in use."""
    source = _editable(summary, "rename")
    name = check_run_name(new_name)
    if name == EXPERIMENTS_FOLDER and summary.kind == "run":
        raise UserError(f"{EXPERIMENTS_FOLDER} is where races are kept; choose another name")
    target = source.with_name(name)
    if name == source.name:
        raise UserError(f"{name} is already this run's name; type another")
    if os.path.lexists(target):
        raise UserError(f"{target} already exists; choose another name (nothing was renamed)")
    with _claimed(source, "rename"):
        try:
            os.rename(source, target)
        except OSError as error:
            raise UserError(
                f"cannot rename {source} to {name}: {error.strerror or error}"
            ) from None
    return target


@dataclass(frozen=True)
class DeletePlan:
    """What deleting a run removes, the files this project wrote, and what stays."""

    path: Path
    kind: str  # "run" or "experiment"
    remove: tuple[str, ...]
    keep: tuple[str, ...]  # everything else in the folder; sub-folders end in "/"

    @property
    def removes_folder(self) -> bool:
        """Whether the folder itself goes too: only when nothing else is in it."""
        return not self.keep


def plan_delete(summary: RunSummary) -> DeletePlan:
    """What deleting this run or race would remove and keep, read from its folder now."""
    directory = _editable(summary, "delete")
    if directory.is_symlink():
        raise UserError(
            f"{directory} is a symbolic link; delete the folder it points to yourself "
            "(nothing was deleted)"
        )
    owner = lock_owner(directory)
    if owner is not None:
        raise _in_use(directory, owner or "unknown", "delete")
    race = summary.kind == "experiment"
    remove, keep = _sorted_out(directory, "", race)
    best = directory / BEST_FOLDER
    if not race and best.is_dir() and not best.is_symlink():
        keep.remove(f"{BEST_FOLDER}/")
        inside = _sorted_out(best, f"{BEST_FOLDER}/", race)
        remove += inside[0]
        keep += inside[1]
    return DeletePlan(directory, summary.kind, tuple(remove), tuple(keep))


def _sorted_out(directory: Path, prefix: str, race: bool) -> tuple[list[str], list[str]]:
    """A folder's entries (as prefix + name): the project's files, and everything else
    (sub-folders ending in "/")."""
    remove, keep = [], []
    with os.scandir(directory) as entries:
        for entry in sorted(entries, key=lambda entry: entry.name):
            name = prefix + entry.name
            if entry.is_file(follow_symlinks=False):
                (remove if is_own_file(name, race) else keep).append(name)
            else:
                keep.append(name + ("/" if entry.is_dir(follow_symlinks=False) else ""))
    return remove, keep


def delete_run(plan: DeletePlan) -> tuple[int, bool]:
    """Remove the files of `plan` that are still this project's, then the folder if it is empty.
    Returns how many files were removed and whether the folder went; UserError in one line if
    the folder is in use (nothing removed) or a file cannot be removed (the rest in place)."""
    directory, race = plan.path, plan.kind == "experiment"
    best = directory / BEST_FOLDER
    removed = 0
    with _claimed(directory, "delete"):
        # the lock file goes last, while it is held, so no run starts in a half-deleted folder
        names = [name for name in plan.remove if name != LOCK_NAME]
        for name in names + ([LOCK_NAME] if LOCK_NAME in plan.remove else []):
            path = directory / name
            if path.parent == best and best.is_symlink():
                continue  # made a link since the question: what it points to is not the run's
            try:
                if not (stat.S_ISREG(os.lstat(path).st_mode) and is_own_file(name, race)):
                    continue
                os.unlink(path)
            except FileNotFoundError:
                continue
            except OSError as error:
                raise UserError(
                    f"cannot delete {path}: {error.strerror or error}; {removed} files were "
                    "removed, the others are in place"
                ) from None
            removed += 1
    for folder in ([] if race else [best]) + [directory]:
        try:
            os.rmdir(folder)  # only once empty; a link is never removed by rmdir
        except OSError:  # something was added meanwhile, or was never the project's: it stays
            pass
    return removed, not directory.exists()
