"""The vocabulary of the DAG declaration: a :class:`Step` is one ``diffrepro <step>`` command with its
arguments (:class:`In`, :class:`Out`, :class:`Value`, :class:`Option`), the parameter keys it reads, the
params section it runs once per element of (:class:`Foreach`), its resources and its report entries.

Paths, values and parameter keys are *templates* with three kinds of placeholder, which both tools resolve:

* ``{key}``: the element of the step's foreach (a Snakemake wildcard; DVC's ``${key}``, or ``${item}`` when
  the foreach runs over a list);
* ``{item.FIELD}``: a field of that element's params section (``{item.data}``: the data set of a model;
  Snakemake looks it up per job, DVC interpolates ``${item.data}``);
* ``{a.b.c}``: any other params value (``{analysis.toy_examples.model}``; DVC's ``${a.b.c}``).

:meth:`Step.resolve` gives a template's value for one job of a parameter file (what Snakemake runs);
:func:`to_dvc` writes it in DVC's interpolation syntax (what ``dvc.yaml`` holds).

**Where a preset writes.** A path under one of :data:`ARTIFACT_DIRS` is an artifact of the parameter file's preset
(its top-level ``preset`` key): the default preset (``params.yaml``) writes them where the declaration says,
every other preset ``NAME`` under ``presets/NAME/`` (:func:`preset_root`, :func:`rooted`), so that presets never
overwrite each other's results. Other paths (``workflow/claims.yaml``) are source files, the same for every preset.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .. import codedeps
from ..config import ConfigError

__all__ = [
    "PATH",
    "Condition",
    "Foreach",
    "In",
    "Members",
    "Option",
    "Out",
    "Plot",
    "Report",
    "Step",
    "Value",
    "ARTIFACT_DIRS",
    "DEFAULT_PRESET",
    "belongs_to_preset",
    "lookup",
    "placeholders",
    "present",
    "preset_root",
    "rooted",
    "to_dvc",
]

#: a placeholder of a template: ``{key}``, ``{item.FIELD}`` or ``{dotted.params.key}``
PLACEHOLDER = re.compile(r"\{([A-Za-z_][\w.]*)\}")
#: in the command-line value of an input (:attr:`In.value`): the input's path
PATH = "{path}"


#: the folders that hold what the steps write (data, weights, results, logs, benchmarks, resumable checkpoints),
#: per preset
ARTIFACT_DIRS = ("benchmarks/", "checkpoints/", "data/", "logs/", "models/", "results/")
#: the preset whose artifacts lie at the top of the repository (params.yaml)
DEFAULT_PRESET = "default"


def preset_root(config: Mapping[str, Any]) -> str:
    """Where the artifacts of the parameter file ``config`` lie: ``""`` for the default preset, else
    ``presets/NAME/``."""
    name = lookup(config, "preset")
    return "" if name == DEFAULT_PRESET else f"presets/{name}/"


def rooted(path: str, root: str) -> str:
    """``path`` of a preset whose artifacts lie under ``root``: artifact paths moved there, source paths as they are."""
    return root + path if root and path.startswith(ARTIFACT_DIRS) else path


def belongs_to_preset(path: str, root: str) -> bool:
    """Whether a job of the preset rooted at ``root`` may write ``path``: not into another preset's folders."""
    if path.startswith("presets/"):
        return bool(root) and path.startswith(root)
    return not (root and path.startswith(ARTIFACT_DIRS))


def placeholders(template: str) -> list[str]:
    return PLACEHOLDER.findall(template)


def lookup(config: Mapping[str, Any], dotted: str) -> Any:
    """The params value at ``dotted`` (``"analysis.toy_examples.model"``); ConfigError naming the key when absent."""
    node: Any = config
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise ConfigError(f"params key {dotted!r} does not exist (no {part!r})")
        node = node[part]
    return node


def text(value: Any) -> str:
    """A params value as it appears in a path or a command: ``str()``, as DVC writes it (``0.1``, ``linear``)."""
    return str(value)


def elements(config: Mapping[str, Any], section: str | None, names: tuple[str, ...] | None) -> list[str]:
    """Fixed ``names``, or the elements of the params ``section`` (a mapping's keys, a list's values, a lone
    string) as they appear in paths (split point 0.1 -> ``0.1``)."""
    if names is not None:
        return list(names)
    values = lookup(config, section)
    if isinstance(values, str):  # a section that names one element or lists several (analysis.snr.data)
        return [values]
    return [text(v) for v in (list(values) if isinstance(values, Mapping) else values)]


def to_dvc(template: str, keyed: bool = True) -> str:
    """``template`` in DVC's syntax: ``{key}`` -> ``${key}`` (``${item}`` for a list foreach), others ``${...}``."""

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name == "key":
            return "${key}" if keyed else "${item}"
        return "${" + name + "}"

    return PLACEHOLDER.sub(sub, template)


@dataclass(frozen=True)
class Foreach:
    """A step runs once per element of a params section (``section``: dotted key) or of fixed ``names``.
    ``keyed``: the section is a mapping (its keys are the elements, ``{item.FIELD}`` reads their fields);
    otherwise a list (of names or split points). ``wildcard`` names the element in Snakemake's patterns."""

    wildcard: str
    section: str | None = None
    names: tuple[str, ...] | None = None
    keyed: bool = True

    def __post_init__(self) -> None:
        if (self.section is None) == (self.names is None):
            raise ValueError(f"foreach {self.wildcard!r}: give a params section or fixed names, not both")
        if self.names is not None and self.keyed:
            raise ValueError(f"foreach {self.wildcard!r}: fixed names are a list (keyed=False)")

    def elements(self, config: Mapping[str, Any]) -> list[str]:
        return elements(config, self.section, self.names)


@dataclass(frozen=True)
class Condition:
    """A part of the DAG that exists for some parameter files only: those whose value of ``key`` passes ``test``
    (``name`` identifies it, ``meaning`` says what it means). Snakemake decides when it plans; a DVC pipeline is
    generated for one parameter file, and its gate stage refuses a file that decides otherwise
    (``diffrepro validate-config --condition NAME=true|false``)."""

    name: str
    meaning: str
    key: str
    test: Callable[[Any], bool]

    def holds(self, config: Mapping[str, Any]) -> bool:
        return bool(self.test(lookup(config, self.key)))


def present(when: Condition | None, config: Mapping[str, Any]) -> bool:
    """Whether a part of the DAG under condition ``when`` (None: unconditional) exists for ``config``."""
    return when is None or when.holds(config)


@dataclass(frozen=True)
class Members:
    """The files inside a directory argument, one per element of params sections or of fixed ``names``:
    ``pattern`` with ``{}`` standing for the element (``"{}.json"``, ``"{}/summary.json"``); ``when``: fixed names
    that exist only where a :class:`Condition` holds."""

    pattern: str
    over: str | tuple[str, ...] | None = None
    names: tuple[str, ...] | None = None
    when: tuple[tuple[str, Condition], ...] = ()

    def names_of(self, config: Mapping[str, Any]) -> list[str]:
        """The fixed names of the parameter file ``config`` (those whose condition holds)."""
        conditions = dict(self.when)
        return [n for n in self.names or () if present(conditions.get(n), config)]

    def files(self, directory: str, config: Mapping[str, Any]) -> list[str]:
        """The files of the elements of ``over`` (a section, or several one after the other) or of ``names``."""
        if isinstance(self.over, tuple):
            found = [e for section in self.over for e in elements(config, section, None)]
        elif self.over is not None:
            found = elements(config, self.over, None)
        else:
            found = self.names_of(config)
        return [f"{directory}/{self.pattern.format(e)}" for e in found]


@dataclass(frozen=True)
class Plot:
    """A DVC plot: the CSV's x and y columns and a title (a template)."""

    x: str
    y: str
    title: str


@dataclass(frozen=True)
class Report:
    """An output shown in ``snakemake --report``: its caption (``workflow/report/<caption>.rst``), its kind
    (``table``, ``figure`` or ``samples``, the report's subcategory), its label (a template) and its study
    (a key of :data:`diffrepro.dag.report.STUDIES`; a table's study is its name's prefix, and samples without a
    study are shown under the study of their model)."""

    caption: str
    kind: str
    label: str
    study: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("table", "figure", "samples"):
            raise ValueError(f"report kind {self.kind!r}: table, figure or samples")


@dataclass(frozen=True, kw_only=True)
class Arg:
    """One option of the command line. ``flag`` also names the argument (``--loss-csv`` -> ``loss_csv``)."""

    flag: str
    help: str | None = None

    @property
    def name(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")


@dataclass(frozen=True, kw_only=True)
class In(Arg):
    """An input file (or directory) of the step, given with ``flag``. ``members``: the argument is a
    directory and these files inside it are the inputs (Snakemake lists them; DVC depends on the directory).
    ``value``: what the command line holds when it is not the path alone (:data:`PATH` stands for the path);
    ``append``: the option may be repeated (every :class:`In` with this flag is one occurrence); ``when``: the
    input exists only where the :class:`Condition` holds (the command leaves the option out elsewhere)."""

    path: str
    members: Members | None = None
    value: str = PATH
    append: bool = False
    when: Condition | None = None
    metavar: str | None = None
    key: str | None = None  # the Snakemake input name when the flag occurs more than once


@dataclass(frozen=True, kw_only=True)
class Out(Arg):
    """An output of the step. ``members``: a directory argument whose listed files are the outputs (Snakemake lists
    them; DVC tracks the directory as a whole where they are the elements of a params section);
    ``directory``: the output is a directory as a whole. In DVC an output is a metric (JSON, not cached), a
    plot (:class:`Plot`, not cached) or an out (``cache``: stored in DVC's cache). ``required=False``: the
    command may leave it out (its default lies beside another output); the DAG always gives it."""

    path: str
    members: Members | None = None
    directory: bool = False
    metric: bool = False
    plot: Plot | None = None
    cache: bool = True
    report: Report | None = None
    required: bool = True


@dataclass(frozen=True, kw_only=True)
class Value(Arg):
    """A value of the command line that is not a file of the DAG (a name, a checkpoint folder): a template."""

    value: str
    choices: tuple[str, ...] | None = None


@dataclass(frozen=True, kw_only=True)
class Option(Arg):
    """An option the DAG leaves at its default (used when the command is run by hand)."""

    default: str | None = None


#: a step that loads data sets of the registry by name: (params, foreach element) -> their names
Loads = Callable[[Mapping[str, Any], "str | None"], Iterable[str]]


@dataclass(frozen=True, kw_only=True)
class Step:
    """One DAG step: the rule and the stage ``name``, the command ``diffrepro <command>`` and the module
    ``diffrepro.steps.<name>`` that runs it (``module_name``: another step's module, for a step that runs the same
    code over another params section, such as a model's training-seed replicates).

    ``params``: the parameter keys it reads (templates); ``threads``: the torch CPU threads its command runs on,
    a fixed number (the rule asks Snakemake for as many cores): a CPU run's float rounding depends on the thread
    count (oneDNN splits reductions by thread), so a fixed count gives the same bytes whatever the machine's
    cores or the orchestrator; ``mem_mb`` and ``gpu`` the resources it
    asks for; ``device``: it runs networks on a torch device (takes ``--device``; the CLI pins it to a GPU of
    ``$DIFFREPRO_GPUS``); ``distributed``: it trains data-parallel under torchrun when asked; ``loads``: the
    data sets of the registry it loads by name, whose loaders are then part of its code; ``when``: a step with a
    foreach has no jobs where the :class:`Condition` does not hold."""

    name: str
    help: str
    args: tuple[Arg, ...]
    params: tuple[str, ...] = ()
    foreach: Foreach | None = None
    threads: int = 1
    mem_mb: int = 1000
    gpu: int = 0
    device: bool = False
    distributed: bool = False
    loads: Loads | None = None
    module_name: str | None = None
    when: Condition | None = None

    def __post_init__(self) -> None:
        where = f"step {self.name}"
        if self.when is not None and self.foreach is None:
            raise ValueError(f"{where}: a condition needs a foreach (its jobs are the elements where it holds)")
        if not isinstance(self.threads, int) or isinstance(self.threads, bool) or self.threads < 1:
            raise ValueError(f"{where}: threads {self.threads!r}: a positive number")
        keys = [self.input_key(a) for a in self.inputs] + [a.name for a in self.outputs]
        if len(set(keys)) != len(keys):
            raise ValueError(f"{where}: two inputs or outputs share a name ({keys})")
        for template in self.templates():
            for name in placeholders(template):
                if name == "key" or name.startswith("item."):
                    if self.foreach is None:
                        raise ValueError(f"{where}: {template!r} uses {{{name}}} but the step has no foreach")
                    if name.startswith("item.") and not self.foreach.keyed:
                        raise ValueError(f"{where}: {template!r}: the foreach over a list has no item fields")
        for out in self.outputs:
            if any(n.startswith("item.") for n in placeholders(out.path)):
                raise ValueError(f"{where}: output {out.path!r} may not depend on {{item.*}} (a pattern)")

    @property
    def command(self) -> str:
        return self.name.replace("_", "-")

    @property
    def module(self) -> str:
        return f"diffrepro.steps.{self.module_name or self.name}"

    @property
    def inputs(self) -> list[In]:
        return [a for a in self.args if isinstance(a, In)]

    @property
    def outputs(self) -> list[Out]:
        return [a for a in self.args if isinstance(a, Out)]

    @property
    def conditions(self) -> list[Condition]:
        """The conditions its jobs, inputs or outputs depend on, each once."""
        members = [a.members for a in self.args if isinstance(a, In | Out) and a.members is not None]
        found = [self.when, *(a.when for a in self.inputs), *(c for m in members for _, c in m.when)]
        return list({c.name: c for c in found if c is not None}.values())

    def inputs_of(self, config: Mapping[str, Any]) -> list[In]:
        """The inputs of its jobs for the parameter file ``config`` (those whose condition holds)."""
        return [a for a in self.inputs if present(a.when, config)]

    @staticmethod
    def input_key(arg: In) -> str:
        return arg.key or arg.name

    @property
    def log(self) -> str:
        return f"logs/{self.name}/{{key}}.log" if self.foreach else f"logs/{self.name}.log"

    @property
    def benchmark(self) -> str:
        return f"benchmarks/{self.name}/{{key}}.tsv" if self.foreach else f"benchmarks/{self.name}.tsv"

    def templates(self) -> Iterable[str]:
        for a in self.args:
            if isinstance(a, In):
                yield from (a.path, a.value)
            elif isinstance(a, Out):
                yield a.path
                if a.plot:
                    yield a.plot.title
                if a.report:
                    yield a.report.label
            elif isinstance(a, Value):
                yield a.value
        yield from self.params

    # ------------------------------------------------------------------ one job of a parameter file
    def elements(self, config: Mapping[str, Any]) -> list[str | None]:
        """The foreach elements of a parameter file (``[None]``: the step runs once; none where its condition
        does not hold)."""
        if self.foreach is None:
            return [None]
        if not present(self.when, config):
            return []
        return list(self.foreach.elements(config))

    def resolve(self, template: str, config: Mapping[str, Any], key: str | None = None) -> str:
        """``template`` for the job of element ``key`` of the parameter file ``config``."""

        def sub(m: re.Match[str]) -> str:
            name = m.group(1)
            if name == "key":
                return str(key)
            if name.startswith("item."):
                item = lookup(config, self.foreach.section)[key]
                return text(lookup(item, name[len("item.") :]))
            return text(lookup(config, name))

        return PLACEHOLDER.sub(sub, template)

    def path(self, template: str, config: Mapping[str, Any], key: str | None = None) -> str:
        """A path template for the job of element ``key`` of ``config``, in the folders of its preset."""
        return rooted(self.resolve(template, config, key), preset_root(config))

    def input_files(self, arg: In, config: Mapping[str, Any], key: str | None = None) -> list[str]:
        path = self.path(arg.path, config, key)
        return arg.members.files(path, config) if arg.members else [path]

    def output_files(self, arg: Out, config: Mapping[str, Any], key: str | None = None) -> list[str]:
        path = self.path(arg.path, config, key)
        return arg.members.files(path, config) if arg.members else [path]

    def param_keys(self, config: Mapping[str, Any], key: str | None = None) -> list[str]:
        return [self.resolve(p, config, key) for p in self.params]

    def options(
        self, params_file: str, render: Callable[[str], str], config: Mapping[str, Any], root: str = ""
    ) -> list[tuple[str, str]]:
        """The options of the command line in order, ``(flag, value)``: ``--params``, ``--log``, then the
        inputs (those of the parameter file ``config``: :meth:`inputs_of`), outputs and values, each value template
        given to ``render`` (options the DAG leaves at their default are not on it); paths in the folders of the
        preset rooted at ``root`` (:func:`rooted`)."""
        pairs = [("--params", params_file), ("--log", render(rooted(self.log, root)))]
        for a in self.args:
            if isinstance(a, In):
                if not present(a.when, config):
                    continue
                pairs.append((a.flag, render(a.value.replace(PATH, rooted(a.path, root)))))
            elif isinstance(a, Out):
                pairs.append((a.flag, render(rooted(a.path, root))))
            elif isinstance(a, Value):  # a folder value (checkpoints) is the preset's too
                pairs.append((a.flag, render(rooted(a.value, root))))
        return pairs

    def argv(self, config: Mapping[str, Any], key: str | None, params_file: str) -> list[str]:
        """The command line of one job of the parameter file ``params_file`` (holding ``config``), as words."""
        pairs = self.options(
            params_file, lambda template: self.resolve(template, config, key), config, preset_root(config)
        )
        return ["diffrepro", self.command, *(word for pair in pairs for word in pair)]

    def code(self, config: Mapping[str, Any] | None = None, key: str | None = None) -> list[str]:
        """The source files the step runs: the import closure of its module, plus the loaders of the data sets
        it loads by name (:attr:`loads`) for element ``key`` of ``config``; with ``config`` None (DVC, which
        cannot make a list depend on a parameter), the loaders of every registered data set."""
        files = set(codedeps.closure(self.module))
        if self.loads is not None:
            names = codedeps.dataset_loaders() if config is None else self.loads(config, key)
            for name in names:
                files.update(codedeps.loader_code(name))
        return sorted(files)
