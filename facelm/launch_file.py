"""A documented subset of the ROS 2 YAML launch frontend, for pip-only installs.

``ros2 launch facelm facelm.launch.yaml`` needs ``launch`` and ``launch_ros``,
which the package registry does not have. ``facelm launch`` reads the same
files with this parser and starts the nodes itself (``facelm.launcher``).
Anything outside the subset is refused with a one-line error naming the file
and the tag, never silently ignored, so a file that works here means the
same thing under ``ros2 launch``.

Supported tags (the top level is ``launch:``, a list of one-key mappings):

- ``arg``: ``name``, ``default``, ``description``
- ``let``: ``name``, ``value``
- ``node``: ``pkg``, ``exec``, ``name``, ``namespace``, ``output``
  (screen|log|both), ``args``, ``ros_args``, ``param`` (``name``/``value``,
  nested ``param`` groups, ``from: FILE``), ``remap`` (``from``/``to``), ``env``
  (``name``/``value``), ``if``, ``unless``
- ``include``: ``file``, ``arg`` (``name``/``value``), ``if``, ``unless``
- ``group``: a list of entities, or ``children`` with ``scoped``, ``if``, ``unless``

Substitutions: ``$(var NAME)``, ``$(env NAME [DEFAULT])``,
``$(find-pkg-share PKG)``, ``$(dirname)``, ``$(filename)``, ``$(not X)``,
``$(equals A B)``, ``$(not-equals A B)``; they nest.
"""
from __future__ import annotations

import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from facelm.errors import FacelmError

PACKAGE = "facelm"
OUTPUTS = ("screen", "log", "both")

# Attributes each tag may carry; anything else is an error.
_TAG_KEYS = {
    "arg": {"name", "default", "description"},
    "let": {"name", "value"},
    "node": {"pkg", "exec", "name", "namespace", "output", "args", "ros_args", "param", "remap",
             "env", "if", "unless"},
    "include": {"file", "arg", "if", "unless"},
    "group": {"children", "scoped", "if", "unless"},
}
SUPPORTED_TAGS = tuple(_TAG_KEYS)
SUPPORTED_SUBSTITUTIONS = ("var", "env", "find-pkg-share", "dirname", "filename", "not", "equals",
                           "not-equals")


# ------------------------------------------------------------------ results

@dataclass
class NodeSpec:
    """One node to start, with everything ``ros2 launch`` would put on its command line."""

    executable: str
    package: str | None = None
    name: str | None = None
    namespace: str | None = None
    output: str = "log"  # launch_ros's default
    args: list[str] = field(default_factory=list)
    ros_args: list[str] = field(default_factory=list)
    # In order: ("param", dotted_name, value) or ("file", path); later entries win, as in launch_ros.
    params: list[tuple] = field(default_factory=list)
    remaps: list[tuple[str, str]] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    source: str = ""  # the launch file it came from, for messages

    @property
    def label(self) -> str:
        """What the node is called in output prefixes and errors."""
        return self.name or Path(self.executable).name

    def ros_arguments(self) -> list[str]:
        """The ``--ros-args ...`` part: node name, namespace, remaps, parameters in file order."""
        out = ["--ros-args"]
        if self.name:
            out += ["-r", f"__node:={self.name}"]
        if self.namespace:
            out += ["-r", f"__ns:={self.namespace}"]
        for src, dst in self.remaps:
            out += ["-r", f"{src}:={dst}"]
        for entry in self.params:
            if entry[0] == "file":
                out += ["--params-file", str(entry[1])]
            else:
                out += ["-p", f"{entry[1]}:={param_text(entry[2])}"]
        return out + self.ros_args

    def command(self, python: str) -> list[str]:
        """The command line: facelm nodes run as ``python -m facelm.ros.<exec>``, the same
        entry point as the ``<exec>`` console script, other executables as they are."""
        if self.package == PACKAGE:
            head = [python, "-m", f"facelm.ros.{self.executable}"]
        else:
            head = [self.executable]
        return head + self.args + self.ros_arguments()


@dataclass
class LaunchPlan:
    nodes: list[NodeSpec]
    arguments: dict[str, dict]  # declared args of every file read: name -> {default, description}
    files: list[Path]


def param_text(value: Any) -> str:
    """A parameter value as ``-p name:=TEXT``: rcl parses TEXT as YAML, so dump it as YAML
    (a quoted string stays a string, lists stay lists)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=1 << 30).strip()
    return text[:-4].strip() if text.endswith("\n...") else text


# ------------------------------------------------------------------- parser

def load_launch_file(path: str | os.PathLike, arguments: dict[str, str] | None = None) -> LaunchPlan:
    """Parse ``path`` with command-line launch arguments (``name:=value``) into the nodes to start."""
    given = dict(arguments or {})
    parser = _Parser()
    nodes = parser.read_file(Path(path), dict(given))
    unknown = sorted(set(given) - set(parser.arguments))
    if unknown:
        declared = ", ".join(sorted(parser.arguments)) or "none"
        raise FacelmError(f"{path}: launch argument(s) {', '.join(unknown)} not declared "
                          f"(declared: {declared})")
    return LaunchPlan(nodes, parser.arguments, parser.files)


def parse_launch_arguments(items: list[str]) -> dict[str, str]:
    """``["a:=1", "b:=x"]`` -> ``{"a": "1", "b": "x"}``, as ``ros2 launch`` takes them."""
    out = {}
    for item in items:
        name, sep, value = item.partition(":=")
        if not sep or not name:
            raise FacelmError(f"launch argument {item!r} is not NAME:=VALUE")
        out[name] = value
    return out


def resolve_launch_file(name: str) -> Path:
    """A path as given, else a file of that name in facelm's launch folder."""
    path = Path(name)
    if path.is_file():
        return path
    if path.parent == Path("."):
        try:
            shipped = package_share(PACKAGE) / "launch" / name
        except FacelmError:
            shipped = None
        if shipped is not None and shipped.is_file():
            return shipped
    raise FacelmError(f"launch file {name} not found (neither a path nor in facelm's launch folder)")


def package_share(package: str) -> Path:
    """``$(find-pkg-share PKG)``: facelm from its checkout or install, others from the ament index."""
    if package == PACKAGE:
        checkout = Path(__file__).resolve().parents[1]
        if (checkout / "package.xml").is_file() and (checkout / "launch").is_dir():
            return checkout  # a source checkout (pip -e): launch/ sits beside facelm/
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    prefixes.append(sys.prefix)  # pip installs data_files under the environment's prefix
    for prefix in prefixes:
        share = Path(prefix, "share", package)
        if share.is_dir():
            return share
    raise FacelmError(f"$(find-pkg-share {package}): package {package!r} not found "
                      f"(looked in AMENT_PREFIX_PATH and {sys.prefix})")


class _Parser:
    def __init__(self):
        self.arguments: dict[str, dict] = {}
        self.files: list[Path] = []
        self.stack: list[Path] = []  # files being read, to catch include cycles

    def read_file(self, path: Path, context: dict[str, str]) -> list[NodeSpec]:
        path = path.resolve()
        if not path.is_file():
            raise FacelmError(f"launch file {path} not found")
        if path.suffix not in (".yaml", ".yml"):
            raise FacelmError(f"{path}: facelm launch reads the YAML frontend only; "
                              "use ros2 launch for XML and Python launch files")
        if path in self.stack:
            raise FacelmError(f"{path}: includes itself (through {' -> '.join(p.name for p in self.stack)})")
        if path not in self.files:
            self.files.append(path)
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise FacelmError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
        if not isinstance(doc, dict) or set(doc) != {"launch"} or not isinstance(doc["launch"], list):
            raise FacelmError(f"{path}: a launch file is a mapping with one key 'launch' holding a list")
        self.stack.append(path)
        try:
            return self.entities(doc["launch"], context, path)
        finally:
            self.stack.pop()

    def entities(self, items: list, context: dict[str, str], path: Path) -> list[NodeSpec]:
        nodes: list[NodeSpec] = []
        for item in items:
            if not isinstance(item, dict) or len(item) != 1:
                raise FacelmError(f"{path}: each launch entry is a one-key mapping like '- node: {{...}}', "
                                  f"got {item!r:.80}")
            (tag, body), = item.items()
            if tag not in _TAG_KEYS:
                raise FacelmError(f"{path}: tag '{tag}' is not supported by facelm launch (supported: "
                                  f"{', '.join(SUPPORTED_TAGS)}); use ros2 launch on a system ROS")
            if tag == "group" and isinstance(body, list):
                body = {"children": body}
            if not isinstance(body, dict):
                raise FacelmError(f"{path}: '{tag}' needs a mapping of attributes")
            extra = sorted(set(body) - _TAG_KEYS[tag])
            if extra:
                raise FacelmError(f"{path}: {tag} attribute(s) {', '.join(extra)} not supported by "
                                  f"facelm launch (supported: {', '.join(sorted(_TAG_KEYS[tag]))})")
            if not self.condition(body, context, path):
                continue
            nodes += getattr(self, "tag_" + tag)(body, context, path)
        return nodes

    # -- tags

    def tag_arg(self, body: dict, context: dict, path: Path) -> list:
        name = self.required(body, "name", "arg", path)
        default = body.get("default")
        self.arguments.setdefault(name, {"default": default, "description": body.get("description", ""),
                                         "file": str(path)})
        if name not in context:
            if default is None:
                raise FacelmError(f"{path}: launch argument '{name}' is required (no default); "
                                  f"pass {name}:=VALUE")
            context[name] = self.text(default, context, path)
        return []

    def tag_let(self, body: dict, context: dict, path: Path) -> list:
        name = self.required(body, "name", "let", path)
        context[name] = self.text(self.required(body, "value", "let", path), context, path)
        return []

    def tag_include(self, body: dict, context: dict, path: Path) -> list:
        target = Path(self.text(self.required(body, "file", "include", path), context, path))
        scope = dict(context)  # included files see ours; theirs do not leak back
        for arg in self.mappings(body.get("arg", []), "include arg", path):
            scope[self.required(arg, "name", "include arg", path)] = self.text(
                self.required(arg, "value", "include arg", path), context, path)
        return self.read_file(target, scope)

    def tag_group(self, body: dict, context: dict, path: Path) -> list:
        scoped = self.flag(body.get("scoped", True), context, path, "group scoped")
        children = body.get("children", [])
        if not isinstance(children, list):
            raise FacelmError(f"{path}: group children must be a list")
        return self.entities(children, dict(context) if scoped else context, path)

    def tag_node(self, body: dict, context: dict, path: Path) -> list[NodeSpec]:
        sub = lambda value: self.text(value, context, path)  # noqa: E731
        spec = NodeSpec(executable=sub(self.required(body, "exec", "node", path)), source=str(path))
        spec.package = sub(body["pkg"]) if "pkg" in body else None
        spec.name = sub(body["name"]) if "name" in body else None
        spec.namespace = sub(body["namespace"]) if "namespace" in body else None
        if spec.namespace and not spec.namespace.startswith("/"):
            spec.namespace = "/" + spec.namespace
        spec.output = sub(body.get("output", "log"))
        if spec.output not in OUTPUTS:
            raise FacelmError(f"{path}: node {spec.label}: output must be one of {', '.join(OUTPUTS)}")
        spec.args = shlex.split(sub(body.get("args", "")))
        spec.ros_args = shlex.split(sub(body.get("ros_args", "")))
        for remap in self.mappings(body.get("remap", []), "remap", path):
            spec.remaps.append((sub(self.required(remap, "from", "remap", path)),
                                sub(self.required(remap, "to", "remap", path))))
        for var in self.mappings(body.get("env", []), "env", path):
            spec.env[sub(self.required(var, "name", "env", path))] = sub(self.required(var, "value", "env", path))
        self.params(body.get("param", []), "", spec, context, path)
        return [spec]

    def params(self, items, prefix: str, spec: NodeSpec, context: dict, path: Path) -> None:
        for entry in self.mappings(items, "param", path):
            if "from" in entry:
                file = Path(self.text(entry["from"], context, path))
                if not file.is_file():
                    raise FacelmError(f"{path}: node {spec.label}: parameter file {file} not found")
                spec.params.append(("file", file.resolve()))
                continue
            name = prefix + self.required(entry, "name", "param", path)
            if "param" in entry:  # a group: names nest with dots
                self.params(entry["param"], name + ".", spec, context, path)
            else:
                spec.params.append(("param", name, self.value(self.required(entry, "value", "param", path),
                                                              context, path)))

    # -- values and substitutions

    def value(self, value: Any, context: dict, path: Path) -> Any:
        """A parameter value: lists element-wise; a string with substitutions is re-read as YAML
        (as launch_ros does), plain strings and numbers stay as written."""
        if isinstance(value, list):
            return [self.value(v, context, path) for v in value]
        if isinstance(value, str) and "$(" in value:
            text = self.text(value, context, path)
            try:
                return yaml.safe_load(text) if text else ""
            except yaml.YAMLError:
                return text
        return value

    def text(self, value: Any, context: dict, path: Path) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if not isinstance(value, (str, int, float)):
            raise FacelmError(f"{path}: expected a scalar, got {value!r:.60}")
        return _Substituter(context, path).expand(str(value))

    def condition(self, body: dict, context: dict, path: Path) -> bool:
        if "if" in body and "unless" in body:
            raise FacelmError(f"{path}: use either 'if' or 'unless', not both")
        if "if" in body:
            return self.flag(body["if"], context, path, "if")
        if "unless" in body:
            return not self.flag(body["unless"], context, path, "unless")
        return True

    def flag(self, value: Any, context: dict, path: Path, what: str) -> bool:
        text = self.text(value, context, path).strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise FacelmError(f"{path}: '{what}' must be true/false/1/0 after substitution, got {text!r}")

    @staticmethod
    def required(body: dict, key: str, tag: str, path: Path):
        if key not in body:
            raise FacelmError(f"{path}: {tag} needs '{key}'")
        return body[key]

    @staticmethod
    def mappings(items, what: str, path: Path) -> list[dict]:
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise FacelmError(f"{path}: {what} must be a list of mappings")
        return items


class _Substituter:
    """Expands ``$(name args...)`` in a string, innermost first."""

    def __init__(self, context: dict[str, str], path: Path):
        self.context, self.path = context, path

    def expand(self, text: str) -> str:
        out, i = [], 0
        while i < len(text):
            start = text.find("$(", i)
            if start < 0:
                out.append(text[i:])
                break
            out.append(text[i:start])
            end = self.closing(text, start + 2)
            out.append(self.evaluate(self.expand(text[start + 2:end])))
            i = end + 1
        return "".join(out)

    def closing(self, text: str, i: int) -> int:
        depth = 1
        while i < len(text):
            if text.startswith("$(", i):
                depth, i = depth + 1, i + 2
                continue
            if text[i] == ")":
                depth -= 1
                if depth == 0:
                    return i
            i += 1
        raise FacelmError(f"{self.path}: unclosed substitution in {text!r}")

    def evaluate(self, inner: str) -> str:
        name, *args = shlex.split(inner) or [""]
        if name == "var":
            self.arity(name, args, 1)
            if args[0] not in self.context:
                raise FacelmError(f"{self.path}: $(var {args[0]}): no launch argument or let named {args[0]!r}")
            return self.context[args[0]]
        if name == "env":
            self.arity(name, args, 1, 2)
            if args[0] in os.environ:
                return os.environ[args[0]]
            if len(args) == 2:
                return args[1]
            raise FacelmError(f"{self.path}: $(env {args[0]}): environment variable not set")
        if name == "find-pkg-share":
            self.arity(name, args, 1)
            return str(package_share(args[0]))
        if name == "dirname":
            self.arity(name, args, 0)
            return str(self.path.parent)
        if name == "filename":
            self.arity(name, args, 0)
            return self.path.name
        if name == "not":
            self.arity(name, args, 1)
            return "false" if _Parser().flag(args[0], self.context, self.path, "$(not)") else "true"
        if name in ("equals", "not-equals"):
            self.arity(name, args, 2)
            same = args[0] == args[1]
            return "true" if same == (name == "equals") else "false"
        raise FacelmError(f"{self.path}: substitution $({name} ...) is not supported by facelm launch "
                          f"(supported: {', '.join(SUPPORTED_SUBSTITUTIONS)})")

    def arity(self, name: str, args: list, low: int, high: int | None = None) -> None:
        high = low if high is None else high
        if not low <= len(args) <= high:
            want = str(low) if low == high else f"{low} to {high}"
            raise FacelmError(f"{self.path}: $({name}) takes {want} argument(s), got {len(args)}")
