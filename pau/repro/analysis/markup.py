"""Tables as Markdown and LaTeX: a cell of ours beside the paper's value, marks, notes."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

BEST, RUNNER_UP = "•", "◦"


@dataclass
class Cell:
    text: str | None  # ours, e.g. "99.35 ± 0.04"; None when we have no run
    mark: str = ""
    paper: str | None = None
    delta: float | None = None

    def markdown(self) -> str:
        ours = "—" if self.text is None else self.text
        if self.mark:
            ours = f"**{self.mark}{ours}**"
        return ours + self._paper(lambda d: f"{d:+.2f}", " (", ")")

    def latex(self) -> str:
        ours = "---" if self.text is None else tex(self.text)
        if self.mark:
            ours = r"\textbf{" + tex(self.mark) + ours + "}"
        return ours + self._paper(lambda d: f"${d:+.2f}$", r" {\scriptsize(", ")}", in_tex=True)

    def _paper(self, fmt_delta, open_, close, in_tex=False) -> str:
        """The paper's value and ours minus it in parentheses; "paper <value>" when there is no difference."""
        if self.paper is None:
            return ""
        paper = tex(self.paper) if in_tex else self.paper
        if self.delta is None or np.isnan(self.delta):
            return f"{open_}paper {paper}{close}"
        return f"{open_}{paper}; {fmt_delta(self.delta)}{close}"


def tex(text: str) -> str:
    """``text`` with the characters LaTeX treats specially (and the marks) escaped."""
    for a, b in (("_", r"\_"), ("%", r"\%"), ("±", r"$\pm$"), (BEST, r"$\bullet$"), (RUNNER_UP, r"$\circ$"),
                 ("—", "---"), ("≥", r"$\geq$"), ("Δ", r"$\Delta$"), ("×", r"$\times$")):
        text = text.replace(a, b)
    return text


def format_accuracy(mean, std=None) -> str | None:
    """"99.35 ± 0.04" (two decimals, as the paper prints); "99.35" without a std; None without a value."""
    if mean is None or pd.isna(mean):
        return None
    if std is None:
        return f"{mean:.2f}"
    return f"{mean:.2f} ± {std:.2f}" if not pd.isna(std) else f"{mean:.2f}"


def render_markdown(header: list[str], rows: list[list], notes: list[str], title: str) -> str:
    body = [[r[0]] + [c.markdown() if isinstance(c, Cell) else str(c) for c in r[1:]] for r in rows]
    table = pd.DataFrame(body, columns=header).to_markdown(index=False, disable_numparse=True)
    return f"## {title}\n\n{table}\n\n" + "".join(f"- {n}\n" for n in notes)


def render_latex(header: list[str], rows: list[list], notes: list[str], title: str, groups=None) -> str:
    ncol = len(header)
    lines = [r"% " + title, r"\begin{table}[t]", r"\centering", r"\resizebox{\textwidth}{!}{%",
             r"\begin{tabular}{l" + "c" * (ncol - 1) + "}", r"\toprule"]
    if groups:  # [(label, span), ...] above the sub-headers
        cells = [""] + [rf"\multicolumn{{{span}}}{{c}}{{{tex(label)}}}" for label, span in groups]
        lines.append(" & ".join(cells) + r" \\")
    if groups:  # the group label is on the line above: keep only the statistic below it
        header = [header[0]] + ["mean ± std" if h.endswith("mean ± std") else h for h in header[1:]]
    lines.append(" & ".join(tex(h) for h in header) + r" \\")
    lines.append(r"\midrule")
    for r in rows:
        cells = [tex(str(r[0]))] + [c.latex() if isinstance(c, Cell) else tex(str(c)) for c in r[1:]]
        lines.append(" & ".join(cells) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}}", r"\caption{" + tex(title + ". " + " ".join(notes)) + "}", r"\end{table}"]
    return "\n".join(lines) + "\n"


def write_table(stem, header, rows, notes, title, groups=None) -> list:
    """The table as ``<stem>.md`` and ``<stem>.tex``; returns both paths."""
    md, tex_file = stem.with_suffix(".md"), stem.with_suffix(".tex")
    md.write_text(render_markdown(header, rows, notes, title))
    tex_file.write_text(render_latex(header, rows, notes, title, groups))
    return [md, tex_file]
