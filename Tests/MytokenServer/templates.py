"""Server-side templates and profiles of the mytoken test server.

Follows oidc-mytoken/server 0.10.2 (internal/db/profilerepo, internal/model/profiled,
internal/endpoints/profiles) and the parser it uses, oidc-mytoken/utils (utils/profile/*.go,
utils/jsonutils/json.go, utils/timerestriction): see README.md for what is followed and what not.

Templates are JSON values; a JSON string (or a stored text that is not JSON) is one or several
space-separated template names. Resolution works on Python values the way the Go code works on
raw JSON bytes.
"""

import json
import os
import re
import time
import uuid

KINDS = ("profiles", "capabilities", "restrictions", "rotation")
DEFAULT_GROUP = "_"


class TemplateError(Exception):
    """Becomes 400 invalid_request with the message as error_description (ErrorToBadRequestErrorResponse)."""


# --- JSON merging (jsonutils.MergeJSONObjects with overwrite=false, MergeJSONArrays) -------------

def _key(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def merge_arrays(*arrays):
    out, seen = [], set()
    for array in arrays:
        for element in array:
            k = _key(element)
            if k not in seen:
                seen.add(k)
                out.append(element)
    return out


def merge_objects(*objects):
    """The first value of a key wins; arrays are united; objects are merged recursively."""
    final = {}
    for obj in objects:
        for k, v in obj.items():
            if k not in final:
                final[k] = v
                continue
            if isinstance(final[k], list):
                final[k] = merge_arrays(final[k], v if isinstance(v, list) else [v])
            elif isinstance(final[k], dict):
                if not isinstance(v, dict):
                    raise TemplateError("cannot merge json object and non-json object for key '%s'" % k)
                final[k] = merge_objects(final[k], v)
    return final


# --- time values (timerestriction.ParseTime, duration.ParseDuration) -----------------------------

_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600,
          "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
_INT = re.compile(r"^[+-]?[0-9]+$")
_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)([^0-9.]*)")


def parse_duration(text):
    orig, s, sign = text, text, 1
    if s[:1] in ("+", "-"):
        sign = -1 if s[0] == "-" else 1
        s = s[1:]
    if s == "0":
        return 0
    if s == "":
        raise TemplateError("time: invalid duration " + orig)
    total = 0.0
    while s:
        m = _PART.match(s)
        number, unit = m.group(1), m.group(2)
        if number in ("", "."):
            raise TemplateError("time: invalid duration " + orig)
        if unit == "":
            raise TemplateError("time: missing unit in duration " + orig)
        if unit not in _UNITS:
            raise TemplateError('time: unknown unit "%s" in duration "%s"' % (unit, orig))
        total += float(number) * _UNITS[unit]
        s = s[m.end():]
    return sign * total


def parse_time(text, now=None):
    now = time.time() if now is None else now
    if text == "":
        return 0
    if _INT.match(text):
        value = int(text)
        return int(now) + value if text[0] == "+" else value
    if text[0] == "+":
        return int(now + parse_duration(text[1:]))
    try:
        return int(time.mktime(time.strptime(text, "%Y-%m-%d %H:%M")))
    except ValueError:
        raise TemplateError('parsing time "%s" as "2006-01-02 15:04": cannot parse "%s" as "2006"' % (text, text))


# --- the store -------------------------------------------------------------------------------------

class Templates:
    """Groups of templates: {group: {kind: {name: (id, value)}}}. The default group "_" is loaded
    from a directory laid out as the real server's config/server-profiles/."""

    def __init__(self, directory=None):
        self.groups = {}
        if directory and os.path.isdir(directory):
            for kind in KINDS:
                folder = os.path.join(directory, kind)
                if not os.path.isdir(folder):
                    continue
                for name in sorted(os.listdir(folder)):
                    with open(os.path.join(folder, name)) as f:
                        self.add(DEFAULT_GROUP, kind, name, self.decode(f.read()))

    @staticmethod
    def decode(text):
        """A stored payload: JSON, else the text itself (template names)."""
        try:
            return json.loads(text)
        except ValueError:
            return text.strip()

    def add(self, group, kind, name, value):
        if kind not in KINDS:
            raise TemplateError("unknown template kind '%s'" % kind)
        self.groups.setdefault(group or DEFAULT_GROUP, {k: {} for k in KINDS})[kind][name] = (str(uuid.uuid4()), value)

    def read(self, kind, reference):
        """profilerepo.read: 'name' or 'group/name', an '@' in front ignored."""
        if reference.startswith("@"):
            reference = reference[1:]
        parts = [p for p in reference.split("/") if p]
        if len(parts) > 2:
            raise TemplateError("malformed include name")
        group, name = (DEFAULT_GROUP, parts[0] if parts else "") if len(parts) < 2 else (parts[0], parts[1])
        found = self.groups.get(group, {}).get(kind, {}).get(name)
        if found is None:
            raise TemplateError("unknown include name: '%s'" % reference)
        return found[1]

    # template.go createFinalTemplate / parseIncludes

    def final(self, kind, content):
        if content is None:
            return None
        if isinstance(content, list):
            result = []
            for element in content:
                resolved = self.final(kind, element)
                if resolved is None:
                    resolved = []
                result = merge_arrays(result, resolved if isinstance(resolved, list) else [resolved])
            return result
        if isinstance(content, dict):
            include = content.get("include")
            if include is None:
                names = []
            elif isinstance(include, list):
                if not all(isinstance(n, str) for n in include):
                    raise TemplateError("json: cannot unmarshal number into Go value of type string")
                names = include
            else:
                names = _unwrap(include).split(" ")
            return self._includes(kind, content, names)
        names = _unwrap(content).split(" ")
        if len(names) == 1:
            return self.final(kind, self.read(kind, names[0]))
        return self._includes(kind, {}, names)

    def _includes(self, kind, content, names):
        for name in names:
            included = self.final(kind, self.read(kind, name))
            if included is None:
                included = {}
            if isinstance(content, dict) and isinstance(included, dict):
                content = merge_objects(content, included)
                continue
            content = merge_arrays(content if isinstance(content, list) else [content],
                                   included if isinstance(included, list) else [included])
        return content

    # the parsers (profile.Parser)

    def restrictions(self, content, now=None):
        """ParseRestrictionsTemplate: a list of clauses, relative times resolved, includes gone."""
        if content is None or content == "":
            return None
        content = self.final("restrictions", content)
        if content is None:
            return None
        if isinstance(content, dict):
            content = [content]
        result = []
        for clause in content:
            if not isinstance(clause, dict):
                raise TemplateError("json: cannot unmarshal %s into Go value of type timerestriction.restrictionWT"
                                    % _go_type(clause))
            clause = {k: v for k, v in clause.items() if k != "include"}
            for key in ("nbf", "exp"):
                if key not in clause:
                    continue
                value = clause[key]
                if isinstance(value, bool) or not isinstance(value, (int, str)):
                    raise TemplateError("json: cannot unmarshal %s into Go value of type string" % _go_type(value))
                clause[key] = parse_time(value, now) if isinstance(value, str) else value
                if clause[key] == 0:
                    del clause[key]
            if clause:
                result.append(clause)
        return result

    def capabilities(self, content):
        """ParseCapabilityTemplate: '@name' entries replaced by the template's capabilities."""
        if content is None or content == "":
            return None
        if isinstance(content, list):
            if not all(isinstance(c, str) for c in content):
                raise TemplateError("json: cannot unmarshal number into Go value of type string")
            names = content
        elif isinstance(content, str):
            names = _unwrap(content).split(" ")
        else:
            raise TemplateError("json: cannot unmarshal %s into Go value of type []string" % _go_type(content))
        result = []
        for name in names:
            expanded = self.capabilities(self.read("capabilities", name)) if name.startswith("@") else [name]
            for c in expanded or []:
                if c not in result:
                    result.append(c)
        return result

    def rotation(self, content):
        """ParseRotationTemplate: one object of on_AT, on_other, lifetime, auto_revoke."""
        if content is None or content == "":
            return None
        content = self.final("rotation", content)
        if content is None:
            return None
        if not isinstance(content, dict):
            raise TemplateError("json: cannot unmarshal %s into Go value of type api.Rotation" % _go_type(content))
        rotation = {}
        for key in ("on_AT", "on_other", "auto_revoke"):
            if key in content:
                if not isinstance(content[key], bool):
                    raise TemplateError("json: cannot unmarshal %s into Go struct field Rotation.%s of type bool"
                                        % (_go_type(content[key]), key))
                if content[key]:
                    rotation[key] = True
        if "lifetime" in content:
            lifetime = content["lifetime"]
            if isinstance(lifetime, bool) or not isinstance(lifetime, int) or lifetime < 0:
                raise TemplateError("json: cannot unmarshal %s into Go struct field Rotation.lifetime of type uint64"
                                    % _go_type(lifetime))
            if lifetime:
                rotation["lifetime"] = lifetime
        return rotation

    def request(self, body, now=None):
        """ParseProfile of a whole request body: its `include` (profile names) merged in (the body's
        own fields win, arrays are united), then restrictions, capabilities and rotation parsed."""
        body = self.final("profiles", body)
        if not isinstance(body, dict):
            raise TemplateError("json: cannot unmarshal %s into Go value of type profile.profileUnmarshal"
                                % _go_type(body))
        parsed = dict(body)
        parsed.pop("include", None)
        parsed["rotation"] = self.rotation(body.get("rotation"))
        parsed["capabilities"] = self.capabilities(body.get("capabilities"))
        parsed["restrictions"] = self.restrictions(body.get("restrictions"), now)
        return parsed

    # the profiles endpoint (profilerepo.GetProfiles & co.): payloads as parsed

    def listing(self, group, kind):
        entries = self.groups.get(group or DEFAULT_GROUP, {}).get(kind)
        if not entries:
            return None  # the real server answers `null` for a group it has no rows for
        parse = {"profiles": self.profile_payload, "capabilities": self.capabilities,
                 "restrictions": self.restrictions, "rotation": self.rotation}[kind]
        return [{"id": id_, "name": name, "payload": parse(value)} for name, (id_, value) in sorted(entries.items())]

    def profile_payload(self, value):
        parsed = self.request(value)
        return {k: v for k, v in parsed.items() if v not in (None, [], "", {})}


def _unwrap(value):
    text = value if isinstance(value, str) else json.dumps(value)
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1]
    return text


def _go_type(value):
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"
