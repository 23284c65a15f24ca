#!/usr/bin/env python3
"""IATI round-trip fidelity: the targets of the lossless import/export work.

Runs scripts/iati-roundtrip --json on the IATI Standard's own example
(Tests/MingaCooperationTests/Fixtures/activity-standard-example-annotated.xml) and on every
fixture in this folder, and asserts, for each file:

  - it imports (minga import iati succeeds),
  - the export validates against the IATI 2.03 schema,
  - the kept share is 100%: every element, attribute and text of every activity comes back
    (matched per iati-identifier, sibling order aside; additions are allowed).

  python3 Tests/EndToEndTests/Fixtures/iati-roundtrip/run_roundtrip_test.py
  python3 -m pytest Tests/EndToEndTests/Fixtures/iati-roundtrip/run_roundtrip_test.py

The minga binary is $MINGA_BIN if set, else .build/debug/minga. Needs xmllint (Debian's
libxml2-utils).
"""
import glob
import json
import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", "..", "..", ".."))
SCRIPT = os.path.join(REPO, "scripts", "iati-roundtrip")
STANDARD_EXAMPLE = os.path.join(REPO, "Tests", "MingaCooperationTests", "Fixtures",
                                "activity-standard-example-annotated.xml")
FIXTURES = sorted(glob.glob(os.path.join(HERE, "*.xml")))
FILES = [STANDARD_EXAMPLE] + FIXTURES
BINARY = os.environ.get("MINGA_BIN") or os.path.join(REPO, ".build", "debug", "minga")

_results = None


def results():
    """Run the script once over every file; {absolute path: its JSON record}."""
    global _results
    if _results is None:
        p = subprocess.run([sys.executable, SCRIPT, "--binary", BINARY, "--json"] + FILES,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=1800)
        out = p.stdout.decode("utf-8")
        records = [json.loads(line) for line in out.splitlines() if line.strip()]
        _results = {os.path.abspath(r["file"]): r for r in records}
        _results["__stderr__"] = p.stderr.decode("utf-8", "replace")
        _results["__rc__"] = p.returncode
    return _results


def lost_summary(r, n=15):
    rows = r.get("lost", [])[:n]
    return "\n".join("  %4d  %s  e.g. %r" % (x["count"], x["path"], x.get("example")) for x in rows)


class IATIRoundTrip(unittest.TestCase):
    def test_fixtures_present(self):
        names = {os.path.basename(f) for f in FIXTURES}
        for want in ("participating-org-no-ref.xml", "unknown-code.xml", "extension-element.xml",
                     "crlf-cdata.xml", "many-languages.xml", "results-locations.xml"):
            self.assertIn(want, names)
        self.assertTrue(os.path.exists(STANDARD_EXAMPLE), STANDARD_EXAMPLE)
        self.assertTrue(os.path.exists(BINARY), "no minga binary at %s (swift build)" % BINARY)

    def check(self, path):
        rs = results()
        r = rs.get(os.path.abspath(path))
        self.assertIsNotNone(r, "no result for %s; the script said:\n%s" % (path, rs["__stderr__"]))
        name = os.path.basename(path)
        self.assertTrue(r["imported"], "%s does not import: %s" % (name, r.get("import_error")))
        self.assertTrue(r["exported"], "%s does not export: %s" % (name, r.get("export_error")))
        self.assertTrue(r["validates"], "%s: the export does not validate:\n%s"
                        % (name, "\n".join(r.get("validation_errors", [])[:10])))
        self.assertEqual(r["activities_missing"], [], "%s: activities not exported" % name)
        self.assertEqual(
            r["kept"], r["facts_before"],
            "%s keeps %s (%d of %d facts); lost:\n%s"
            % (name, r["share_text"], r["kept"], r["facts_before"], lost_summary(r)))


def _add(path):
    stem = os.path.splitext(os.path.basename(path))[0].replace("-", "_")
    setattr(IATIRoundTrip, "test_roundtrip_" + stem, lambda self: self.check(path))


for _f in FILES:
    _add(_f)


if __name__ == "__main__":
    unittest.main(verbosity=2)
