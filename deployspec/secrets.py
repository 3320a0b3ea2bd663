"""Which values are secret, and how they are hidden.

Contract: an environment entry is secret when its key is declared secret (the spec's
`model.secret_env`, every Secrets Manager or SSM reference: recorded on the model as
`sensitive_environment`), when its key names a credential (`is_secret_key`), or when its value
has the shape of one (`looks_secret`: credentials in a URL, well-known token formats, long
high-entropy strings). `secret_paths(before, after)` lists the flattened attribute paths of a
change's secret environment entries, secret on either side; `withheld_paths(before, after)`
those whose live value the change replaces or drops (the live model does not record which keys
were declared secret, so such a value is never shown); `mask_pair` / `mask_resource` replace
their values with SENSITIVE. Every rendering of a plan (text, JSON, markdown) and every reason
string goes through these, so secrets never reach output or logs; the plan's own data keeps the
real values (they are what apply sends). `preview(value)` is how an error message shows a
value: short, and never one that looks secret; `redact(text, secrets)` is how every error
message (spec and template errors alike) is cleaned of the values in `secret_values(variables)`
and of any other secret it may quote.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from functools import cache
from typing import Any

SENSITIVE = "(sensitive)"
# Prefix of environment values in saved plans, which hold digests instead (see saved.py).
SEALED = "sealed:"
# The attribute of a model's data that lists its declared secret environment keys.
DECLARED = "sensitive_environment"

# Words of a key (split at _ - . and camelCase humps) that name a credential by themselves...
_SECRET_WORDS = frozenset(
    {
        "KEY",
        "KEYS",
        "APIKEY",
        "SECRET",
        "SECRETS",
        "TOKEN",
        "TOKENS",
        "PASSWORD",
        "PASSWORDS",
        "PASSWD",
        "PASSPHRASE",
        "PASS",
        "PWD",
        "CREDENTIAL",
        "CREDENTIALS",
        "CRED",
        "CREDS",
        "PRIVATE",
        "AUTH",
        "AUTHORIZATION",
        "SAS",
        "DSN",
        "COOKIE",
        "COOKIES",
        "WEBHOOK",
        "WEBHOOKS",
        # Abbreviations and schemes seen in real configurations (DB_PW, ADMIN_PW, OTP_SEED).
        "PW",
        "PASSCODE",
        "PIN",
        "OTP",
        "TOTP",
        "BEARER",
        "HMAC",
        "SALT",
    }
)
# ...or at the end of a run-together word (APIKEY, CLIENTSECRET, AUTHTOKEN, DBPASSWORD, OAUTH,
# ENCRYPTIONKEYS, DBPASS). TOKEN is deliberately not a prefix: TOKENIZERS_PARALLELISM is a
# Hugging Face setting. PIN, PW and OTP count as whole words only (as endings they would
# catch SPIN, BACKSPIN and the like); PIPELINE and SPINE hold no such word.
_SECRET_ENDINGS = (
    "KEY",
    "KEYS",
    "SECRET",
    "SECRETS",
    "TOKEN",
    "TOKENS",
    "PASSWORD",
    "PASSWORDS",
    "PASSWD",
    "PASSPHRASE",
    "PASSCODE",
    "PASS",
    "CREDENTIAL",
    "CREDENTIALS",
    "AUTH",
    "WEBHOOK",
)
# Ordinary words that end like a credential word: passes, not passwords.
_NOT_SECRET_WORDS = frozenset(
    {"BYPASS", "COMPASS", "ENCOMPASS", "SURPASS", "TRESPASS", "OVERPASS", "UNDERPASS"}
)
# Settings whose name holds a credential word in another sense (PyTorch's pin_memory; the
# token counts of the LLM containers: TGI's MAX_INPUT_TOKENS, TEI's MAX_BATCH_TOKENS).
_NOT_SECRET_PHRASES = (
    r"(^|_)PIN_?MEMORY($|_)|^MAX_(INPUT|TOTAL|NEW|BATCH(_TOTAL|_PREFILL)?)_TOKENS$"
)
# Whole keys made of ordinary words that conventionally hold credentials.
_SECRET_PHRASES = r"(^|_)(DATABASE|DB)_?(URL|URI)($|_)|(^|_)CONN(ECTION)?_?STR(ING)?($|_)"
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")
# Shells set these; they are never secrets even though PWD is a password's abbreviation.
_NOT_SECRET = frozenset({"PWD", "OLDPWD"})

# Token formats whose prefix says what they are; matched anywhere in a value ("Bearer …").
# Compiled on first use (_token_shapes): it costs milliseconds that `validate` need not spend.
_TOKEN_SHAPES = (
    r"(?<![A-Za-z0-9])(?:"
    r"hf_[A-Za-z0-9]{30,}"  # Hugging Face
    r"|sk-[A-Za-z0-9_-]{20,}"  # OpenAI, Anthropic and others
    r"|[sr]k_(?:live|test)_[A-Za-z0-9]{16,}"  # Stripe
    r"|(?:AKIA|ASIA)[A-Z0-9]{16}"  # AWS access key IDs (long-term, temporary)
    r"|gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{22,}"  # GitHub
    r"|glpat-[A-Za-z0-9_-]{20,}"  # GitLab
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"  # Slack
    r"|AIza[A-Za-z0-9_-]{35}"  # Google API keys
    r"|ya29\.[A-Za-z0-9_-]{20,}"  # Google OAuth access tokens
    r"|npm_[A-Za-z0-9]{36}|pypi-[A-Za-z0-9_-]{50,}"  # package registries
    r"|eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]*"  # JWTs
    r")"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
    # A password in a URL: scheme://user:password@host (the user may be empty).
    r"|(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{0,30}://[^\s/@:]*:[^\s/@]+@"
    # Signed or keyed URLs: SAS and presigned URLs, tokens in query strings (or a SAS token
    # given alone, `sig=...` first).
    r"|[?&](?:sig|signature|token|access_token|api_key|apikey|key|secret|password"
    r"|x-amz-signature|x-amz-security-token|x-goog-signature)=|^sig="
    # Connection strings holding a key or password: Azure storage and Service Bus, ADO.NET.
    r"|(?:^|;)\s*(?:AccountKey|SharedAccessKey|SharedAccessSignature|Password|Pwd)\s*=\s*[^;\s]"
    # An HTTP Authorization value: `Bearer <token>` (Basic is checked by decoding it).
    r"|^\s*(?:authorization\s*:\s*)?(?:bearer|token)\s+[A-Za-z0-9._~+/-]{8,}=*\s*$"
    # Webhook URLs whose path is the credential.
    r"|hooks\.slack\.com/|discord(?:app)?\.com/api/webhooks/"
)
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9+/=_-]{32,}")
# `Basic <base64 of user:password>`, told from prose ("Basic tier") by decoding it.
_BASIC_AUTH = re.compile(r"\s*(?:authorization\s*:\s*)?basic\s+([A-Za-z0-9+/]+={0,2})\s*", re.I)
_SEPARATORS = re.compile(r"[-_/+=]")
_DIGEST = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


@cache
def _token_shapes() -> re.Pattern[str]:
    return re.compile(_TOKEN_SHAPES, re.IGNORECASE)


def is_secret_key(key: str) -> bool:
    """Whether an environment key's name says its value is a credential."""
    if key.upper() in _NOT_SECRET:
        return False
    if re.search(_SECRET_PHRASES, key, re.IGNORECASE):
        return True
    key = re.sub(_NOT_SECRET_PHRASES, "_", key, flags=re.IGNORECASE)
    for word in _WORDS.findall(key):
        upper = word.upper()
        if upper in _SECRET_WORDS:
            return True
        if upper.endswith(_SECRET_ENDINGS) and upper not in _NOT_SECRET_WORDS:
            return True
    return False


def looks_secret(value: object) -> bool:
    """Whether a value has the shape of a credential, whatever its key."""
    if not isinstance(value, str) or len(value) < 8:
        return False
    if _token_shapes().search(value) or _basic_credentials(value):
        return True
    return _high_entropy(value)


def _basic_credentials(value: str) -> bool:
    import base64
    import binascii

    match = _BASIC_AUTH.fullmatch(value)
    if match is None:
        return False
    try:
        decoded = base64.b64decode(match.group(1), validate=True)
    except (binascii.Error, ValueError):
        return False
    return b":" in decoded


def _high_entropy(value: str) -> bool:
    # A generated key: one long run of base64/hex characters with letters and digits mixed
    # and near-random character frequencies. Hex digests of 40 or 64 characters (commit ids,
    # sha256 sums, as in HF_MODEL_REVISION) are identifiers, and model ids such as
    # sentence-transformers/all-MiniLM-L6-v2 are words joined by separators.
    if not _TOKEN_CHARS.fullmatch(value) or _DIGEST.fullmatch(value):
        return False
    if not (re.search(r"\d", value) and re.search(r"[A-Za-z]", value)):
        return False
    if max(len(part) for part in _SEPARATORS.split(value)) < 16:
        return False
    counts = Counter(value)
    entropy = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    return entropy >= 3.5


def is_secret(key: str, value: object, declared: Iterable[str] = ()) -> bool:
    return key in set(declared) or is_secret_key(key) or looks_secret(value)


def secret_env_keys(environment: Mapping[str, Any], declared: Iterable[str] = ()) -> set[str]:
    """The keys of `environment` whose values are secret."""
    named = set(declared)
    return {k for k, v in environment.items() if k in named or is_secret(k, v)}


def mask_env(env: Mapping[str, Any], declared: Iterable[str] = ()) -> dict[str, Any]:
    hidden = secret_env_keys(env, declared)
    return {k: (SENSITIVE if k in hidden and v is not None else v) for k, v in env.items()}


def _environments(data: Any, prefix: str = "") -> dict[str, tuple[Mapping[str, Any], set[str]]]:
    """{path prefix: (environment mapping, declared secret keys)} for each `environment` found."""
    found: dict[str, tuple[Mapping[str, Any], set[str]]] = {}
    if not isinstance(data, Mapping):
        return found
    declared = data.get(DECLARED)
    names = {str(k) for k in declared} if isinstance(declared, list | tuple) else set()
    for key, value in data.items():
        if key == "environment" and isinstance(value, Mapping):
            found[prefix] = (value, names)
        elif isinstance(value, Mapping):
            found.update(_environments(value, f"{prefix}{key}."))
    return found


def secret_paths(before: Any, after: Any) -> frozenset[str]:
    """Flattened paths ("environment.API_TOKEN") of environment entries secret on either side.

    A key secret on one side is secret on both: the live model (read from AWS) carries no
    declarations, and a value changing from a token to anything else must not show the token.
    """
    old, new = _environments(before), _environments(after)
    paths: set[str] = set()
    for prefix in old.keys() | new.keys():
        old_env, old_declared = old.get(prefix, ({}, set()))
        new_env, new_declared = new.get(prefix, ({}, set()))
        declared = old_declared | new_declared
        for key in old_env.keys() | new_env.keys():
            if is_secret(key, old_env.get(key), declared) or looks_secret(new_env.get(key)):
                paths.add(f"{prefix}environment.{key}")
    return frozenset(paths)


def mask_resource(data: Any, paths: frozenset[str] | None = None, prefix: str = "") -> Any:
    """A copy of before/after data with the secret environment values (`paths`, by default
    those of `data` alone) replaced by SENSITIVE."""
    if paths is None:
        paths = secret_paths(None, data)
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            path = f"{prefix}{key}"
            if path in paths and value is not None:
                out[key] = SENSITIVE
            elif isinstance(value, dict):
                out[key] = mask_resource(value, paths, f"{path}.")
            else:
                out[key] = value
        return out
    return data


def withheld_paths(before: Any, after: Any) -> frozenset[str]:
    """Flattened paths of the environment entries whose live value (`before`) the change
    replaces or drops: that value is never shown, secret-looking or not.

    The live model, read back from AWS, does not record which keys the spec that created it
    declared secret (`model.secret_env`): a key taken out of secret_env while its value changes
    would otherwise show the old secret. A live value equal to the spec's is shown as the spec's.
    """
    old, new = _environments(before), _environments(after)
    paths: set[str] = set()
    for prefix, (old_env, _) in old.items():
        new_env = new.get(prefix, ({}, set()))[0]
        for key, value in old_env.items():
            if value is not None and new_env.get(key) != value:
                paths.add(f"{prefix}environment.{key}")
    return frozenset(paths)


def mask_pair(before: Any, after: Any) -> tuple[Any, Any]:
    """Both sides of a change masked (see `secret_paths`), and the live values the change
    replaces or drops masked on the before side (see `withheld_paths`)."""
    paths = secret_paths(before, after)
    return mask_resource(before, paths | withheld_paths(before, after)), mask_resource(after, paths)


def secret_values(variables: Mapping[str, object]) -> set[str]:
    """The template variables' values no message may show: of a variable named like a
    credential (`--var api_token=...`) or holding a value shaped like one."""
    found: set[str] = set()
    for name, value in variables.items():
        if isinstance(value, bool):
            continue
        text = str(value)
        if is_secret_key(name) or looks_secret(text):
            found.add(text)
    return found


# Shorter secrets are not replaced: they would blank out ordinary words of the messages.
MIN_REDACTED = 4
# How much of an ordinary value a message shows.
_PREVIEW = 60


def redact(
    text: str, secrets: Iterable[str], *, cut: Iterable[str] = (), limit: int | None = None
) -> str:
    """`text` as a message may show it: every one of `secrets` replaced by SENSITIVE, also as
    Python or JSON quote it (a message may hold a value's repr), every one of `cut` longer than
    a preview cut to one, and the whole cut to `limit` characters.

    Secrets go first and longest first, so that no part of one survives inside a cut one."""
    for secret in sorted(
        (s for s in set(secrets) if len(s) >= MIN_REDACTED), key=len, reverse=True
    ):
        for form in _quoted_forms(secret):
            text = text.replace(form, SENSITIVE)
    for value in sorted({v for v in cut if len(v) > _PREVIEW}, key=len, reverse=True):
        text = text.replace(value, value[: _PREVIEW - 3] + "...")
    if limit is not None and len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def _quoted_forms(value: str) -> list[str]:
    import json

    forms = [value, repr(value)[1:-1], json.dumps(value)[1:-1]]
    return [form for index, form in enumerate(forms) if form and form not in forms[:index]]


def preview(value: object, limit: int = _PREVIEW) -> str:
    """A value as an error message may show it: its repr cut to `limit` characters, and
    never a value that looks like a credential."""
    if isinstance(value, str) and len(value) > 4 * limit:
        # Only the head can be shown; scanning all of a 300 KB scalar would be slow.
        value = value[: 2 * limit]
    if looks_secret(value):
        return "(a value that looks secret)"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def json_field(text: str, field: str) -> str:
    """One field of a secret holding a JSON object, as text. The ValueError raised for a
    secret of another shape names the field and the kinds involved, never a value."""
    import json

    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ValueError("the secret is not a JSON object")
    if field not in data:
        fields = ", ".join(sorted(str(k) for k in data)[:20]) or "none"
        raise ValueError(f"the secret has no field {field!r} (its fields: {fields})")
    value = data[field]
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"field {field!r} holds a {type(value).__name__}, not text")
    return value if isinstance(value, str) else json.dumps(value)
