#!/usr/bin/env python3
"""The binary COPY converters (src/pg_binary*.c) against PostgreSQL's own text input.

For every type the client converts (integers, numeric with several typmods, float4/8,
bool, date, timestamp(tz) with and without precision, text, varchar(n), char(n), uuid,
json, jsonb) edge values and seeded random ones go through tests/pgbinconv: each value is
loaded by text COPY (the server's input function) and, when the converter accepts it,
by the converter's bytes in COPY (FORMAT binary); both are read back with the type's send
function. For every value:
  - accepted by the converter => the server accepted the text too, the binary COPY loaded,
    and the stored bits are the same;
  - refused as invalid        => the server refused the text too;
  - refused as uncertain      => anything (the sink falls back to text COPY).
Date/time values also run under other sessions: TimeZone America/New_York and a POSIX
offset, DateStyle DMY, and a non-default timezone_abbreviations. Lists of common spellings
must be accepted (not left uncertain), so a converter that refuses everything fails.
"""
import json
import os
import random
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from stack import Stack, StackError  # noqa: E402

BUILD = os.environ.get("INGESTD_BUILDDIR", os.path.join(HERE, "..", ".."))
DRIVER = os.path.join(BUILD, "tests", "sinks", "pgbinconv")
IN_CI = os.environ.get("CI") == "true"
RND = random.Random(20240229)

results = []


def check(name, cond, detail=""):
    results.append(bool(cond))
    n = len(results)
    print(("ok %d - %s" if cond else "not ok %d - %s") % (n, name), flush=True)
    if not cond and detail:
        for line in str(detail).splitlines()[-30:]:
            print("#   " + line, flush=True)


def run_driver(st, typ, values, sets=()):
    argv = [DRIVER, "--conninfo", st.pg_conninfo, "--type", typ]
    for s in sets:
        argv += ["--set", s]
    data = "".join(json.dumps(v) + "\n" for v in values)
    p = subprocess.run(argv, input=data.encode(), capture_output=True, timeout=600)
    if p.returncode != 0 or "Sanitizer" in p.stderr.decode():
        raise RuntimeError(f"pgbinconv {typ}: rc {p.returncode}: {p.stderr.decode()[-2000:]}")
    return [json.loads(line) for line in p.stdout.decode().splitlines()]


def judge(st, typ, values, must_convert=(), sets=()):
    """Runs one type and checks the three rules; returns the driver's rows."""
    values = list(dict.fromkeys(list(values) + list(must_convert)))
    rows = run_driver(st, typ, values, sets)
    label = typ + (" [" + ", ".join(sets) + "]" if sets else "")
    wrong, bad_invalid = [], []
    for r in rows:
        if r["conv"] == "ok":
            if r["text"] != "ok" or r["bin"] != "ok" or r["text_send"] != r["bin_send"]:
                wrong.append(r)
        elif r["conv"] == "invalid" and r["text"] == "ok":
            bad_invalid.append(r)
    n_ok = sum(r["conv"] == "ok" for r in rows)
    n_unc = sum(r["conv"] == "uncertain" for r in rows)
    check(f"{label}: {n_ok} of {len(rows)} values converted exactly as the server reads them "
          f"({n_unc} left to text COPY)", not wrong and n_ok > 0, "\n".join(map(str, wrong[:10])))
    check(f"{label}: every value refused as invalid is refused by the server", not bad_invalid,
          "\n".join(map(str, bad_invalid[:10])))
    by_value = {r["value"]: r for r in rows}
    missed = [by_value[v] for v in must_convert if by_value[v]["conv"] != "ok"]
    if must_convert:
        check(f"{label}: {len(must_convert)} common spellings are converted", not missed,
              "\n".join(map(str, missed[:10])))
    return rows


def pick(alphabet, lo, hi, n):
    return ["".join(RND.choice(alphabet) for _ in range(RND.randint(lo, hi))) for _ in range(n)]


# ---- integers ----

def int_values():
    v = ["0", "-0", "+0", "1", " 1", "1 ", "\t1\n", "007", "-32768", "32767", "32768",
         "-32769", "2147483647", "2147483648", "-2147483648", "-2147483649",
         "9223372036854775807", "9223372036854775808", "-9223372036854775808",
         "-9223372036854775809", "99999999999999999999999", "1.0", "1e3", "", "-", " ", "+-1",
         "--1", "1_000", "0x10", "1 2", "\u0661", "1\u00a0", "\v5\f"]
    return v + pick("0123456789 +-_x.e\t", 0, 22, 400)


# ---- numeric ----

def numeric_values():
    v = ["0", "-0", "0.0", "00.000", "1.5", "-1.5", ".5", "5.", "+.5", "-.5e-1", "1e5", "1E-5",
         "1e+5", "1e", "e5", "1.2.3", "NaN", "nan", "NAN ", " nAn", "+NaN", "-NaN", "Infinity",
         "infinity", "+Infinity", "-Infinity", "inf", "-inf", "+inf", "INF", "infinit",
         "Infinityx", "nan x", " 12.345 ", "12.344999", "999.994", "999.995", "-999.995",
         "99.995", "0.005", "0.0049999", "-0.005", "1e 5", "1e- 5", "1e+ 5", "1e1000",
         "1e-1000", "1e16383", "1e-16383", "1e-16384", "1e131071", "1e131072", "1e1073741822",
         "1e1073741823", "-1e-1073741823", "12345678901234567890.12345678901234567890",
         "0.000000000000000000001", "9" * 40, "0" * 100 + "1", "1" + "0" * 300,
         "0." + "0" * 16382 + "1", "0." + "0" * 16383 + "1", "9.9999999999", "0.00005",
         "5e-5", "-5e-5", "4.99999e-5", "123456.7", "1234567", "99999.999", "  ", "", "1,5",
         "1_0", "\u0661"]
    for _ in range(500):
        digits = "".join(RND.choice("0123456789") for _ in range(RND.randint(1, 14)))
        if RND.random() < 0.3:
            digits = "9" * RND.randint(1, 8) + digits[:3]
        dp = RND.randint(0, len(digits))
        s = digits[:dp] + ("." if RND.random() < 0.8 else "") + digits[dp:]
        if RND.random() < 0.3:
            s += RND.choice("eE") + RND.choice(["", "+", "-"]) + str(RND.randint(0, 12))
        if RND.random() < 0.4:
            s = "-" + s
        if RND.random() < 0.1:
            s = RND.choice([" ", "\t", "\n"]) + s + RND.choice(["", " ", "x", "."])
        v.append(s)
    return v + pick("0123456789.eE+- naif", 0, 12, 200)


NUMERIC_COMMON = ["1.5", "-2.25", "0", "100", "12.345", "1e1", "-0.001", " 7 ", "NaN"]


# ---- floats ----

def float_values():
    v = ["0", "-0", "1", "1.5", "1e308", "1.7976931348623157e308", "1.8e308", "-1.8e308",
         "1e-308", "2.2250738585072014e-308", "2.2250738585072011e-308", "4.9e-324", "5e-324",
         "2.4703282292062328e-324", "2.4703282292062327e-324", "1e-324", "1e-400",
         "3.4028235e38", "3.4028236e38", "3.40282357e38", "3.5e38", "1.17549435e-38",
         "1.1754942e-38", "1e-45", "1.4e-45", "7e-46", "7.1e-46", "NaN", "nan", "-NaN",
         "+nan", "Infinity", "-Infinity", "+Infinity", "inf", "-inf", "+inf", "INF",
         "infinity ", "  nan  ", "nanx", "nan(1)", "0x1p3", "0X1P-3", "0x", "1e", "1e+", "1.",
         ".", " ", "", " .5", "5.e3", "1,5", "1_0", "1e3.5", "123456789012345678901234567890",
         "0.1", "0.30000000000000004", "9007199254740993", "16777217", "1e23", "8.5e-324",
         "\u0661", "1\u00a0"]
    for _ in range(500):
        mant = "".join(RND.choice("0123456789") for _ in range(RND.randint(1, 25)))
        dp = RND.randint(0, len(mant))
        s = mant[:dp] + "." + mant[dp:] if RND.random() < 0.7 else mant
        if s == ".":
            s = "0"
        if RND.random() < 0.6:
            s += "e" + RND.choice(["", "-", "+"]) + str(RND.choice(
                [RND.randint(0, 40), RND.randint(35, 50), RND.randint(290, 330)]))
        if RND.random() < 0.4:
            s = "-" + s
        v.append(s)
    return v + pick("0123456789.eE+- naifxp", 0, 10, 200)


FLOAT_COMMON = ["1.5", "-2.25", "0", "1e10", "3.14159", "NaN", "Infinity", "-Infinity"]


# ---- bool ----

def bool_values():
    words = ["true", "false", "yes", "no", "on", "off", "1", "0"]
    v = []
    for w in words:
        for k in range(1, len(w) + 2):
            p = (w + "x")[:k]
            v += [p, p.upper(), " " + p + "\t", p.capitalize()]
    return v + ["", " ", "o", "10", "t rue", "y e s", "2", "-1", "TRUE\n"] + \
        pick("tTrRuUeEfFaAlLsSyYnNoO01 \t", 0, 6, 300)


# ---- date / time ----

DATE_COMMON = ["2024-01-02", "2024-02-29", "1999-12-31", "0001-01-01", "2024-1-2",
               "0044-03-15 BC"]
TS_COMMON = ["2024-01-02 03:04:05", "2024-01-02T03:04:05", "2024-01-02 03:04:05.123456",
             "2024-01-02T03:04:05Z", "2024-01-02 03:04:05+02", "2024-01-02 03:04:05-05:30",
             "2024-01-02 03:04:05+0530", "2024-01-02 24:00:00", "2024-01-02 03:04",
             "epoch", "infinity", "-infinity"]


def must_for(typ, sets):
    """The common spellings that must convert under a session's settings."""
    s = " ".join(sets)
    must = DATE_COMMON if typ == "date" else TS_COMMON
    if "abbreviations" in s:  # letters are looked up in the abbreviation file first
        must = [v for v in must if not any(c.isalpha() for c in v)]
    if typ == "timestamptz" and ("New_York" in s or "UTC+3" in s):
        must = [v for v in must if re.search(r"(Z|[+-]\d\d(:?\d\d)?)$", v) or
                v in ("epoch", "infinity", "-infinity")]
    return must


def datetime_values():
    v = ["2024-01-02", "2024-1-2", "2024-02-29", "2023-02-29", "2100-02-29", "2000-02-29",
         "2024-13-01", "2024-00-10", "2024-01-00", "2024-01-32", "2024-04-31", "0001-01-01",
         "0000-01-01", "0001-01-01 BC", "0001-02-29 BC", "0002-02-29 BC", "0005-02-29 BC",
         "0101-02-29 BC", "0401-02-29 BC", "4713-01-01 BC", "4714-11-24 BC", "4714-11-23 BC",
         "4714-11-24 00:00:00+01 BC", "4714-11-24 00:00:00-01 BC", "9999-12-31",
         "9999-12-31 23:59:59.999999", "9999-12-31 24:00:00-15:59",
         "2024-01-02 03:04:05", "2024-01-02T03:04:05", "2024-01-02t03:04:05",
         "2024-01-02 03:04", "2024-01-02 3:04:05", "2024-01-02 03:4:05", "2024-01-02 03:04:5",
         "2024-01-02 24:00:00", "2024-01-02 24:00:01", "2024-01-02 24:00:00.000001",
         "2024-01-02 25:00:00", "2024-01-02 23:60:00", "2024-01-02 23:59:60",
         "2024-01-02 23:59:60.5", "2024-01-02 23:59:61", "2024-01-02 23:59:59.9999995",
         "2024-01-02 23:59:59.99999949", "2024-01-02 00:00:00.0000005",
         "2024-01-02 00:00:00.0000015", "2024-01-02 00:00:00.0000025",
         "2024-01-02 00:00:00.0000035", "2024-01-02 00:00:00.", "2024-01-02 00:00:00.5",
         "2024-01-02 03:04:05.123456789", "2024-01-02 03:04:05." + "1" * 30,
         "2024-01-02 03:04:05." + "1" * 31, "2024-01-02 03:04:05Z", "2024-01-02 03:04:05 z",
         "2024-01-02 03:04:05 UTC", "2024-01-02 03:04:05 utc", "2024-01-02 03:04:05 GMT",
         "2024-01-02 03:04:05 Zulu", "2024-01-02 03:04:05+00", "2024-01-02 03:04:05-00",
         "2024-01-02 03:04:05+05:30", "2024-01-02 03:04:05-0530", "2024-01-02 03:04:05 +05",
         "2024-01-02 03:04:05+15:59", "2024-01-02 03:04:05+16", "2024-01-02 03:04:05+05:60",
         "2024-01-02 03:04:05+05:", "2024-01-02 03:04:05+5", "2024-01-02 03:04:05+123",
         "2024-01-02 03:04:05 + 05", "2024-01-02 03:04:05+05:30:15",
         "2024-01-02 03:04:05 PST", "2024-01-02 03:04:05 Europe/Berlin",
         "2024-01-02 03:04:05 America/New_York", "2024-01-02 03:04:05 BC",
         "2024-01-02 03:04:05+02 BC", "2024-01-02 03:04:05 AD", "2024-01-02 03:04:05BC",
         "2024-01-02BC", "2024-01-02 bc", "2024-01-02 ad", "epoch", "EPOCH", " epoch ",
         "infinity", "-infinity", "+infinity", "Infinity ", "- infinity", "now", "today",
         "tomorrow", "yesterday", "allballs", "01/02/2024", "02/01/2024", "1/2/24",
         "2024/01/02", "2024.01.02", "20240102", "20240102T030405", "Jan 2 2024",
         "2 January 2024", "2024-Jan-02", "2024-01-02 03:04:05 pm", "2024-01-02 12:00:00 am",
         "J2451545", "", "  ", "2024-01-02T", "T03:04:05", "12345-01-01", "2024-01-02-05",
         "2024-01-02+05", "2024-01-02 +05", "2024-01-02 Z", "2024-01-02 03:04:05.5.5",
         "2024-01-02 03:04:05:06", "2024-01-02,03:04:05", "1999-12-31 24:00:00-01",
         "2024-03-10 02:30:00", "2024-11-03 01:30:00", "2024-03-31 02:30:00",
         "2024-10-27 02:30:00", "1900-01-01 00:00:00", "1883-11-18 12:00:00",
         " 2024-01-02\t03:04:05 ", "2024-01-02  03:04:05", "2024-01-02\n03:04:05",
         "2024-01-02 03:04:05\u00a0", "2024\u201301\u201302"] + DATE_COMMON + TS_COMMON
    for _ in range(600):
        y = RND.choice([RND.randint(1, 9999), RND.randint(1, 30), RND.randint(1995, 2030)])
        s = f"{y:04d}-{RND.randint(0, 13):02d}-{RND.randint(0, 32):02d}"
        if RND.random() < 0.7:
            s += RND.choice([" ", "T", "  "]) + \
                f"{RND.randint(0, 25):02d}:{RND.randint(0, 60):02d}"
            if RND.random() < 0.8:
                s += f":{RND.randint(0, 61):02d}"
                if RND.random() < 0.5:
                    s += "." + "".join(RND.choice("0123456789")
                                       for _ in range(RND.randint(0, 9)))
            r = RND.random()
            if r < 0.2:
                s += RND.choice(["Z", " UTC", "z"])
            elif r < 0.6:
                h, m = RND.randint(0, 16), RND.randint(0, 60)
                s += RND.choice(["+", "-"]) + RND.choice(
                    [f"{h:02d}", f"{h:02d}:{m:02d}", f"{h:02d}{m:02d}"])
        if RND.random() < 0.05:
            s += RND.choice([" BC", " AD", " bc"])
        v.append(s)
    return v


# ---- uuid ----

def uuid_values():
    base = "a0eebc999c0b4ef8bb6d6bb9bd380a11"
    v = ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}",
         base, base.upper(), "{" + base + "}", "{" + base, base + "}", " " + base, base + " ",
         base[:-1], base + "0", "a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11",
         "a0e-ebc99-9c0b-4ef8-bb6d-6bb9bd380a11", base + "-", "-" + base, "", "{}",
         "g0eebc999c0b4ef8bb6d6bb9bd380a11", "a0eebc99--9c0b4ef8bb6d6bb9bd380a11"]
    for _ in range(300):
        s = "".join(RND.choice("0123456789abcdefABCDEF") for _ in range(32))
        r = RND.random()
        if r < 0.5:
            out = "-".join([s[:8], s[8:12], s[12:16], s[16:20], s[20:]])
        elif r < 0.7:
            out = s
        else:
            out = ""
            for i, ch in enumerate(s):
                if i and RND.random() < 0.15:
                    out += "-"
                out += ch
        if RND.random() < 0.2:
            out = "{" + out + "}"
        v.append(out)
    return v


# ---- strings ----

def string_values():
    return ["abc", "abc ", "abc  ", "abcd", "ab", "a", "", " ", "   ", "    ", "\u00e4\u00f6\u00fc",
            "\u00e4\u00f6\u00fcx", "\u00e4\u00f6\u00fc ", "\u00e4\u00f6 \u00fc", "a\tb", "a\\b",
            "\U0001F600\U0001F600\U0001F600", "\U0001F600\U0001F600\U0001F600\U0001F600",
            "ab\t", "abc\t", "ab \u00e4", "x" * 1000, "a\nb", "\\N", "tab\there"]


# ---- json ----

def json_random(depth=0):
    r = RND.random()
    if depth > 3 or r < 0.4:
        return RND.choice([0, -1, 1.5, -2.5e-3, 1e300, True, False, None, "s", "\u00e9",
                           "a\"b", "\\", "\n", "\U0001F600", 12345678901234567890])
    if r < 0.7:
        return [json_random(depth + 1) for _ in range(RND.randint(0, 4))]
    return {RND.choice(["a", "b", "", "\u00e9", "k k"]): json_random(depth + 1)
            for _ in range(RND.randint(0, 4))}


def json_values():
    v = ['{"a":1}', '[1,2,3]', ' {"a" : [true, false, null] } ', '1', '-0', '0.5e-3', '"s"',
         'true', 'null', '{}', '[]', '""', '"\\u0000"', '"\\ud800"', '"\\udc00"',
         '"\\ud83d\\ude00"', '"\\ude00\\ud83d"', '"\\ud83dx"', '"\\ud83d\\n"', '"\\u00E9"',
         '"\\u12G4"', '"\\x"', '"\\/"', '"a\tb"', '"\u00e9"', '01', '1.', '.5', '-', '+1',
         '1e', '1E+2', '1e-2', 'tru', 'True', 'nulll', 'NaN', 'Infinity', '[1,]', '{"a":}',
         '{"a" 1}', '{1:2}', '[1] 2', '[', ']', '', ' ', '\t\n\r ', '\f1', '1\f', "'a'",
         '{"a":1,"a":2}', '1_0', '1x', '"\u00e9"x', '[' * 100 + ']' * 100, '1e100000',
         '-1e-100000', '1' * 2000, '[1e400]', '{"\\u0000": 1}']
    for _ in range(200):
        s = json.dumps(json_random(), ensure_ascii=RND.random() < 0.5,
                       separators=RND.choice([(",", ":"), (", ", ": ")]))
        v.append(s)
        if s and RND.random() < 0.5:
            i = RND.randint(0, len(s) - 1)
            v.append(s[:i] + RND.choice(["", ",", "}", "]", "\"", "\\", "x", " "]) + s[i + 1:])
    return v


JSON_COMMON = ['{"a": 1, "b": [true, null, "x"]}', '[1.5, -2, "\\u00e9"]', '"text"', '42']


def main():
    if not os.path.exists(DRIVER):
        print(f"# {DRIVER} not built")
        return 1 if IN_CI else 77
    try:
        with Stack(moto=False, postgres=True) as st:
            tz = st.psql("SHOW TimeZone")[0][0]
            print(f"# server TimeZone {tz}")
            try:
                for typ in ("smallint", "integer", "bigint"):
                    judge(st, typ, int_values(), ["1", "-17", " 42 ", "+5"])
                nums = numeric_values()
                for typ in ("numeric", "numeric(5,2)", "numeric(12,2)", "numeric(3,5)",
                            "numeric(2,-3)", "numeric(20,10)", "numeric(1000,0)"):
                    judge(st, typ, nums, NUMERIC_COMMON if "(3,5)" not in typ and
                          "(2,-3)" not in typ else ())
                for typ in ("real", "double precision"):
                    judge(st, typ, float_values(), FLOAT_COMMON)
                judge(st, "boolean", bool_values(), ["t", "true", "FALSE", " yes", "on", "0"])
                dts = datetime_values()
                judge(st, "date", dts, DATE_COMMON)
                judge(st, "timestamp", dts, TS_COMMON)
                judge(st, "timestamp(2)", dts, TS_COMMON)
                judge(st, "timestamptz", dts, TS_COMMON)
                judge(st, "timestamptz(0)", dts, TS_COMMON)
                for sets in (["TimeZone=America/New_York"], ["TimeZone=UTC+3"],
                             ["DateStyle=SQL, DMY"], ["TimeZone=GMT"],
                             ["timezone_abbreviations=Australia"]):
                    for typ in ("date", "timestamp", "timestamptz"):
                        judge(st, typ, dts, must_for(typ, sets), sets=sets)
                judge(st, "uuid", uuid_values(), ["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"])
                strs = string_values()
                for typ in ("text", "varchar", "varchar(3)", "char(3)", "char", "bpchar",
                            "varchar(1)"):
                    judge(st, typ, strs, ["ab"] if typ not in ("char", "varchar(1)") else [])
                jv = json_values()
                judge(st, "json", jv, JSON_COMMON)
                judge(st, "jsonb", jv, JSON_COMMON)
            except (StackError, RuntimeError, subprocess.SubprocessError, ValueError) as e:
                check("differential run completed", False, repr(e))
    except StackError as e:
        print(f"# stack: {e}")
        return 1 if IN_CI else 77
    print("1..%d" % len(results))
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
