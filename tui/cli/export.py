"""`minigpt export`: a checkpoint as a Hugging Face transformers folder (the GPT-2 architecture)."""

from __future__ import annotations

import argparse
import shlex

from core import export_to_transformers, size_text
from tui.cli.generate import resolve_checkpoint


def cmd_export(args: argparse.Namespace) -> int:
    folder, why = resolve_checkpoint(args.checkpoint)
    result = export_to_transformers(folder, args.out)
    out = shlex.quote(str(result.out))
    print(
        f"exported {folder} ({why}) to {result.out}: {len(result.files)} files, "
        f"{size_text(result.size)}, {result.parameters:,} parameters as GPT-2"
    )
    print(f"load it: AutoModelForCausalLM.from_pretrained({str(result.out)!r}) and AutoTokenizer")
    print(f"publish it (after hf auth login): hf upload USER/NAME {out} .")
    return 0
