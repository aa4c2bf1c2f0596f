"""From run folders to the paper's tables and figures, in layers (each imports only those above it):

- ``names``: registry names, the paper's display names and orders;
- ``collect``: run folders -> the runs table (``runs.csv``), and which runs count;
- ``markup``: tables as Markdown and LaTeX; ``stats``: means, marks, Table 5's counts;
- ``paper``: the paper's published tables; ``table5``, ``tables``: Tables 2-5;
- ``plots``: the figures as matplotlib Figures; ``pruning``: the pruning runs, their table
  and Fig. 4; ``figures``: curves and learned activations of a runs table;
- ``cli``: the commands ``pau-collect``, ``pau-tables``, ``pau-figures``.
"""
