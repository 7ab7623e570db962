"""The seed's §5.2 fine-tuning code, verbatim, its defects one at a time, and the fixed code run on our data
(notebook 03)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from llmkit.core.errors import LlmkitError

if TYPE_CHECKING:
    from transformers import PreTrainedModel
from llmkit.finetune.tasks import TextTask

# ------------------------------------------------------------------------------------ the seed's own code


@dataclass(frozen=True)
class SeedFix:
    """One fix to the seed's §5.2 code: the defect, the verbatim text it replaces and the replacement."""

    key: str  # a short name: seed_fixes("labels", ...) picks fixes by it
    defect: str  # what is wrong, in one line
    old: str  # verbatim text of the seed's code
    new: str
    count: int = 1  # how many times ``old`` occurs (every occurrence is replaced)


def seed_block(section: str, language: str = "") -> str:
    """The first fenced code block under the seed's heading ``section`` (``"5.2"``), verbatim, fences removed.

    ``seed_block("5.2", "python")`` is the seed's fine-tuning code; ``seed_block("5.4")`` the output it
    says the code printed.
    """
    from llmkit.data.seed import SEED_FILE, seed_text

    text = seed_text()
    heading = re.search(rf"^#{{2,4}} {re.escape(section)} .*$", text, flags=re.MULTILINE)
    if heading is None:
        raise LlmkitError(f"seed: no heading numbered {section!r} in {SEED_FILE.name}")
    rest = text[heading.end() :]
    following = re.search(r"^#{2,4} \d", rest, flags=re.MULTILINE)
    body = rest[: following.start()] if following else rest
    fence = re.search(rf"^```{re.escape(language)}\n(.*?)^```", body, flags=re.MULTILINE | re.DOTALL)
    if fence is None:
        raise LlmkitError(f"seed §{section}: no fenced ```{language} block under this heading")
    return fence.group(1)


def seed_code() -> str:
    """The seed's fine-tuning code (§5.2 源代码详细实现), exactly as written, Chinese comments included."""
    return seed_block("5.2", "python")


def seed_epoch_lines(text: str) -> list[tuple[int, float, float]]:
    """``(epoch, loss, accuracy)`` of every ``Epoch k: loss = …, accuracy = …`` line in ``text``."""
    pattern = r"Epoch (\d+): loss = ([0-9.]+), accuracy = ([0-9.]+)"
    return [(int(e), float(loss), float(acc)) for e, loss, acc in re.findall(pattern, text)]


def undefined_names(code: str) -> list[str]:
    """Names ``code`` reads but never assigns, imports or finds among the builtins, in order of first use."""
    import ast
    import builtins

    tree = ast.parse(code)
    bound: set[str] = set(dir(builtins))
    loads: list[tuple[int, int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load):
                loads.append((node.lineno, node.col_offset, node.id))
            else:
                bound.add(node.id)
    seen: list[str] = []
    for _, _, name in sorted(loads):
        if name not in bound and name not in seen:
            seen.append(name)
    return seen


def apply_fixes(code: str, fixes: Sequence[SeedFix]) -> str:
    """``code`` with every fix applied; a fix whose text does not occur exactly ``count`` times raises."""
    for fix in fixes:
        found = code.count(fix.old)
        if found != fix.count:
            raise LlmkitError(
                f"fix {fix.defect!r}: expected {fix.count} occurrence(s) of {fix.old!r}, found {found}"
            )
        code = code.replace(fix.old, fix.new)
    return code


_EVAL_LOOP = """for batch in test_loader:
    inputs = batch['input_ids'].to(device)
    attention_mask = batch['attention_mask'].to(device)
    labels = batch['labels'].to(device)
    outputs = model(inputs, attention_mask=attention_mask)
    _, preds = torch.max(outputs, dim=1)
    total_correct += (preds == labels).sum().item()
    total_samples += labels.size(0)
accuracy = total_correct / total_samples
"""

# The smallest changes that make §5.2 run and report what §5.4 prints. The names the seed never defines
# (read_train_data, read_test_data, TokenDataset) are given to the code by the caller, not patched in.
SEED_FIXES: tuple[SeedFix, ...] = (
    SeedFix(
        "model",
        "bert-base-cased is a 436 MB download; the course runs offline on the packaged MiniLM (also BERT)",
        "'bert-base-cased'",
        "MODEL_DIR",
        count=2,
    ),
    SeedFix(
        "import",
        "DataLoader is used but never imported",
        "import torch.optim as optim\n",
        "import torch.optim as optim\nfrom torch.utils.data import DataLoader\n",
    ),
    SeedFix(
        "shuffle",
        "the training batches are never shuffled: every epoch sees the same batches in the same order",
        "train_loader = DataLoader(train_dataset, batch_size=32)",
        "train_loader = DataLoader(train_dataset, batch_size=32, shuffle=True,\n"
        "                          generator=torch.Generator().manual_seed(SEED))\n"
        "val_data = read_train_data('validation.txt')  # a validation split for the per-epoch accuracy\n"
        "val_loader = DataLoader(TokenDataset(val_data), batch_size=32)",
    ),
    SeedFix(
        "evaluation",
        "evaluation: no torch.no_grad(), torch.max on the output object instead of .logits (the fixed "
        "loop is accuracy_on, defined before training so that every epoch can use it on the validation split)",
        "total_correct = 0\ntotal_samples = 0\n" + _EVAL_LOOP,
        "accuracy = accuracy_on(test_loader)\n",
    ),
    SeedFix(
        "epochs",
        "§5.4 prints a loss per epoch: the loop now collects each epoch's batch losses, and puts the model back "
        "in train mode after each epoch's validation",
        "model.train()\nfor epoch in range(10):\n    for batch in train_loader:\n",
        "def accuracy_on(loader):\n"
        "    model.eval()\n"
        "    total_correct = 0\n"
        "    total_samples = 0\n"
        "    with torch.no_grad():  # no graph for a backward pass that never comes\n"
        "        for batch in loader:\n"
        "            inputs = batch['input_ids'].to(device)\n"
        "            attention_mask = batch['attention_mask'].to(device)\n"
        "            labels = batch['labels'].to(device)\n"
        "            outputs = model(inputs, attention_mask=attention_mask)\n"
        "            _, preds = torch.max(outputs.logits, dim=1)  # .logits [batch, 2], not the output object\n"
        "            total_correct += (preds == labels).sum().item()\n"
        "            total_samples += labels.size(0)\n"
        "    return total_correct / total_samples\n"
        "history = []\nfor epoch in range(10):\n    model.train()\n    epoch_losses = []\n"
        "    for batch in train_loader:\n",
    ),
    SeedFix(
        "labels",
        "no labels are passed to the model, so outputs.loss is None",
        "        outputs = model(inputs, attention_mask=attention_mask)\n        loss = outputs.loss\n",
        "        outputs = model(inputs, attention_mask=attention_mask, labels=labels)\n"
        "        loss = outputs.loss\n",
    ),
    SeedFix(
        "epoch_metrics",
        "§5.4's per-epoch loss and accuracy are never computed or printed",
        "        optimizer.step()\n",
        "        optimizer.step()\n"
        "        epoch_losses.append(loss.item())\n"
        "    val_accuracy = accuracy_on(val_loader)\n"
        "    history.append((epoch + 1, sum(epoch_losses) / len(epoch_losses), val_accuracy))\n"
        '    print(f"Epoch {epoch + 1}: loss = {history[-1][1]:.3f}, accuracy = {val_accuracy:.3f}")\n',
    ),
    SeedFix(
        "decimals",
        "the accuracy is printed with 2 decimals, while §5.4 reports 95.5%",
        'print(f"Accuracy: {accuracy:.2f}")',
        'print(f"Accuracy: {accuracy:.3f}")',
    ),
)


def fixed_seed_code(fixes: Sequence[SeedFix] = SEED_FIXES) -> str:
    """:func:`seed_code` with :data:`SEED_FIXES` applied (it still needs ``read_train_data``,
    ``read_test_data``, ``TokenDataset``, ``MODEL_DIR`` and ``SEED`` from its caller)."""
    return apply_fixes(seed_code(), fixes)


def write_labeled_texts(task: TextTask, split: str, path: str | Path) -> Path:
    """Write one split of ``task`` as ``label<TAB>text`` lines (the seed's ``train.txt`` / ``test.txt``)."""
    path = Path(path)
    rows = task.split(split)
    lines = [
        f"{int(y)}\t{' '.join(str(t).split())}" for t, y in zip(rows["text"], rows["label"], strict=True)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_labeled_texts(path: str | Path) -> list[tuple[str, int]]:
    """The seed's undefined ``read_train_data`` / ``read_test_data``: ``(text, label)`` rows of a
    ``label<TAB>text`` file written by :func:`write_labeled_texts`."""
    rows = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        label, sep, text = line.partition("\t")
        if not sep or not label.isdigit():
            raise LlmkitError(f"{path}:{number}: expected 'label<TAB>text', got {line[:60]!r}")
        rows.append((text, int(label)))
    return rows


def seed_fixes(*keys: str) -> tuple[SeedFix, ...]:
    """The fixes of :data:`SEED_FIXES` named ``keys``, in their order there (all of them without keys)."""
    known = [f.key for f in SEED_FIXES]
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise LlmkitError(f"seed fixes: unknown {unknown}; expected some of {known}")
    return tuple(f for f in SEED_FIXES if not keys or f.key in keys)


def seed_namespace(
    seed: int = 0, max_length: int = 128, model_dir: str | Path | None = None
) -> dict[str, Any]:
    """The globals the seed's code needs and never defines, defined by llmkit; pass to :func:`run_seed_code`.

    ``read_train_data`` / ``read_test_data`` are :func:`read_labeled_texts`; ``TokenDataset(data)`` is
    :class:`llmkit.finetune.batching.TokenDataset` with the tokenizer the seed's code itself made (its global
    ``tokenizer``), padded to ``max_length``; ``MODEL_DIR`` is the packaged MiniLM; ``SEED`` seeds the
    shuffle the fixed code adds.
    """
    from llmkit.assets.models import minilm_path
    from llmkit.finetune.batching import TokenDataset

    namespace: dict[str, Any] = {
        "read_train_data": read_labeled_texts,
        "read_test_data": read_labeled_texts,
        "MODEL_DIR": str(model_dir or minilm_path()),
        "SEED": seed,
    }

    def token_dataset(data: Sequence[tuple[str, int]]) -> TokenDataset:
        return TokenDataset(data, namespace["tokenizer"], max_length)

    namespace["TokenDataset"] = token_dataset
    return namespace


def run_seed_code(code: str, folder: str | Path, namespace: dict[str, Any], seed: int = 0) -> dict[str, Any]:
    """Execute the seed's code (or a fixed version) in ``folder`` (where its ``train.txt`` is) with
    ``namespace`` as its globals; torch is seeded first (the new head, dropout). Returns ``namespace``,
    which holds every variable the code made (``model``, ``loss``, ``accuracy``, ...), also when it raises."""
    import torch

    torch.manual_seed(seed)
    with contextlib.chdir(folder):
        exec(compile(code, "<seed §5.2>", "exec"), namespace)  # noqa: S102 - the course runs the seed's own code
    return namespace


def loader_proba(model: PreTrainedModel, loader: Any) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities ``[n, k]`` and labels ``[n]`` of every batch of a DataLoader (eval, no_grad)."""
    import torch

    device = next(model.parameters()).device
    probs, labels = [], []
    model.eval()
    with torch.no_grad():
        for batch in loader:
            logits = model(
                batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device)
            ).logits
            probs.append(torch.softmax(logits.float(), dim=-1).cpu().numpy())
            labels.append(batch["labels"].numpy())
    return np.concatenate(probs).astype(np.float64), np.concatenate(labels).astype(np.int64)
