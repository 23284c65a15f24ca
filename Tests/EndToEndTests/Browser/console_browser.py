#!/usr/bin/env python3
"""End-to-end test of the operator's console (/console of `minga serve`) in a real browser.

Two real nodes (mx.amexcid and co.apc) are set up with the `minga` CLI, as an operator would,
served with --console-token-file, and given a conflict. Headless Chromium, driven by Selenium
through chromedriver (Debian: chromium chromium-driver python3-selenium), then signs in,
reads the overview, switches language, settles the conflict, syncs, checks the other node,
looks up a record and the roster, and signs out. Last, plain urllib requests check that the
console refuses writes without a session or without the form's CSRF token.

    python3 console_browser.py --minga .build/debug/minga --out .build/test-output/console

Exit status 0 only when every check holds; otherwise each failed check is printed with the
page's URL and source, a failure screenshot is saved in --out, and the status is 1. The
elements are found by ids and attributes only, never by visible words.
"""

import argparse
import html.parser
import http.cookiejar
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.error
import urllib.parse
import urllib.request

PACKAGES = "chromium chromium-driver python3-selenium"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"

try:
    from selenium import webdriver
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException, WebDriverException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait
except ImportError:
    # Debian's python3-selenium lives in /usr/bin/python3's dist-packages; a python3 earlier on
    # the PATH (pyenv, a venv) does not see it, so run again with Debian's.
    if os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3") and os.path.exists("/usr/bin/python3") \
            and not os.environ.get("MINGA_BROWSER_REEXEC"):
        os.environ["MINGA_BROWSER_REEXEC"] = "1"
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print(f"MISSING: Python's selenium module; install the Debian packages: apt-get install -y {PACKAGES}", flush=True)
    sys.exit(3)


def log(message):
    print(f"[{time.monotonic() - START:6.1f}s] {message}", flush=True)


START = time.monotonic()


class Fatal(Exception):
    """A check that later steps depend on failed: the run stops."""


class Run:
    def __init__(self, args):
        self.args = args
        self.out = os.path.abspath(args.out)
        self.minga = os.path.abspath(args.minga)
        self.failures = []
        self.tmp = tempfile.mkdtemp(prefix="minga-console-browser-")
        self.servers = []
        self.driver = None
        self.a_url = self.b_url = None

    # ---------------------------------------------------------------- reporting

    def fail(self, what, url=None, source=None, fatal=False):
        self.failures.append(what)
        n = len(self.failures)
        print(f"\nFAIL [{n}]: {what}", flush=True)
        if self.driver is not None and url is None:
            try:
                url, source = self.driver.current_url, self.driver.page_source
            except Exception as error:  # the browser itself may be gone
                url = f"(browser unavailable: {error})"
        if url:
            print(f"  at: {url}", flush=True)
        if source:
            text = source if len(source) <= 20000 else source[:20000] + "\n  …(truncated)"
            print("  page source:\n" + "\n".join("    " + line for line in text.splitlines()), flush=True)
        if self.driver is not None:
            slug = re.sub(r"[^a-z0-9]+", "-", what.lower()).strip("-")[:50]
            path = os.path.join(self.out, f"failure-{n:02d}-{slug}.png")
            try:
                self.driver.save_screenshot(path)
                print(f"  screenshot: {path}", flush=True)
            except Exception:
                pass
        print("", flush=True)
        if fatal:
            raise Fatal(what)

    def check(self, condition, what, fatal=False, url=None, source=None):
        if condition:
            log(f"ok: {what}")
            return True
        self.fail(what, url=url, source=source, fatal=fatal)
        return False

    # ---------------------------------------------------------------- the CLI

    def cli(self, db, *args, ok=True, timeout=60):
        env = dict(os.environ, MINGA_DB=os.path.join(self.tmp, db))
        shown = " ".join(args)
        result = subprocess.run([self.minga, *args], cwd=self.tmp, env=env, capture_output=True, text=True, timeout=timeout)
        log(f"$ MINGA_DB={db} minga {shown}" + (f"  -> exit {result.returncode}" if result.returncode else ""))
        if ok and result.returncode != 0:
            self.fail(f"minga {shown} on {db} exited {result.returncode}", url="(cli)",
                      source=result.stdout + result.stderr, fatal=True)
        return result.stdout

    def conflicts(self, db, all_=False):
        args = ["conflicts", "list", "--json"] + (["--all"] if all_ else [])
        return json.loads(self.cli(db, *args) or "[]")

    def conflict(self, db, cid):
        return next((c for c in self.conflicts(db, all_=True) if c.get("id") == cid), None)

    def row(self, db, table, key):
        return json.loads(self.cli(db, "get", table, key))

    def serve(self, db, token_file, peers=()):
        path = os.path.join(self.tmp, f"{db}.serve.log")
        logfile = open(path, "w")
        args = [self.minga, "serve", "--db", os.path.join(self.tmp, db), "--port", "0", "--sync-interval", "3600",
                "--console-token-file", token_file]
        for peer in peers:
            args += ["--peer", peer]
        log("$ minga " + " ".join(args[1:]))
        process = subprocess.Popen(args, cwd=self.tmp, stdout=logfile, stderr=subprocess.STDOUT, start_new_session=True)
        self.servers.append((process, logfile, path))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with open(path) as f:
                text = f.read()
            found = re.search(r"minga: node (\S+) listening on (http://127\.0\.0\.1:\d+)", text)
            if found:
                log(f"  {found.group(1)} serves {found.group(2)}")
                return found.group(2)
            if process.poll() is not None:
                break
            time.sleep(0.1)
        with open(path) as f:
            self.fail(f"minga serve on {db} did not start", url="(cli)", source=f.read(), fatal=True)

    def stop_servers(self):
        for process, logfile, path in self.servers:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
            logfile.close()
            with open(path) as f:
                text = f.read()
            for token in getattr(self, "tokens", []):
                if token in text:
                    self.fail(f"a console token appears in the server log {os.path.basename(path)}", url="(log)", source=text)
        self.servers = []

    # ---------------------------------------------------------------- the browser

    def start_browser(self):
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                         "--window-size=1280,900", "--lang=es", f"--user-data-dir={os.path.join(self.tmp, 'chromium')}"]:
            options.add_argument(argument)
        options.add_experimental_option("prefs", {"intl.accept_languages": "es"})
        self.driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
        self.driver.set_page_load_timeout(30)
        log(f"chromium {self.driver.capabilities.get('browserVersion')} (headless, Accept-Language: es)")

    def wait(self, condition, what, seconds=15):
        try:
            return WebDriverWait(self.driver, seconds).until(condition)
        except TimeoutException:
            self.fail(f"timed out waiting for {what}", fatal=True)

    def find(self, css, what=None, within=None):
        """The one element `css` matches; a missing one is fatal (later steps need it)."""
        found = (within or self.driver).find_elements(By.CSS_SELECTOR, css)
        if not found:
            self.fail(f"{what or 'page'}: no element matches {css}", fatal=True)
        return found[0]

    def all(self, css, within=None):
        return (within or self.driver).find_elements(By.CSS_SELECTOR, css)

    @staticmethod
    def gone(element):
        """A wait condition: `element`'s page has been replaced. Selenium's staleness_of only
        knows StaleElementReferenceException; chromedriver may instead report an element of
        a page being replaced as "does not belong to the document", which means the same."""
        def replaced(_driver):
            try:
                element.is_enabled()
                return False
            except StaleElementReferenceException:
                return True
            except WebDriverException as e:
                if "does not belong to the document" in str(e):
                    return True
                raise
        return replaced

    def click_and_load(self, element):
        """Clicks a link or submit button and waits for the page that answers it."""
        old = self.driver.find_element(By.TAG_NAME, "html")
        element.click()
        self.wait(self.gone(old), "the next page after a click")
        self.wait(lambda d: d.execute_script("return document.readyState") == "complete", "the page to load")

    def submit_form(self, form):
        buttons = self.all("button:not([type=button]):not([type=reset]), input[type=submit]", within=form)
        if buttons:
            self.click_and_load(buttons[0])
        else:
            old = self.driver.find_element(By.TAG_NAME, "html")
            form.submit()
            self.wait(self.gone(old), "the page after submitting a form")

    def path(self):
        return urllib.parse.urlsplit(self.driver.current_url).path.rstrip("/") or "/"

    def lang(self):
        return self.driver.find_element(By.TAG_NAME, "html").get_attribute("lang")

    def shot(self, name):
        path = os.path.join(self.out, name)
        self.driver.save_screenshot(path)
        log(f"screenshot {path}")

    def submit_token(self, token):
        """Types a token into the sign-in form and submits it. Chromium may still be settling the
        page (autofocus, or the page a wrong token answered): an element it reports as no longer
        in the document is found again, up to three times. Chromium may also report the old page
        gone while the click is already answered: once the browser has left the sign-in page,
        the token was submitted and is not typed again."""
        for attempt in range(3):
            try:
                form = self.find("form#signin", "sign-in page")
                field = self.find("input#token", "sign-in form", within=form)
                field.clear()
                field.send_keys(token)
                self.click_and_load(self.find("button#signin-submit", "sign-in form", within=form))
                return
            except WebDriverException:
                if attempt == 2:
                    raise
                time.sleep(0.3)
                if self.path() != "/console/signin":
                    self.wait(lambda d: d.execute_script("return document.readyState") == "complete", "the page to load")
                    return

    def sign_in(self, base, token, wrong_first=False, screenshot=None):
        self.driver.get(base + "/console")
        self.check(self.path() == "/console/signin", f"GET {base}/console without a session redirects to /console/signin "
                                                        f"(got {self.driver.current_url})", fatal=True)
        if screenshot:
            self.check(self.lang() == "es", f"sign-in page follows Accept-Language: html[lang=es] (got lang={self.lang()!r})")
            self.shot(screenshot)
        if wrong_first:
            field = self.find("input#token", "sign-in form", within=self.find("form#signin", "sign-in page"))
            self.check(field.get_attribute("name") == "token", "input#token has name=token")
            self.submit_token("not-a-console-token")
            self.check(bool(self.all("p.error")), "a wrong token shows p.error")
            self.check(self.path() == "/console/signin", f"a wrong token stays on sign-in (at {self.driver.current_url})")
        self.submit_token(token)
        self.check(self.path() == "/console", f"signing in lands on the overview /console (at {self.driver.current_url})", fatal=True)

    # ---------------------------------------------------------------- the scenario

    def setup(self):
        t = self.tmp
        with open(os.path.join(t, "schema.sql"), "w") as f:
            f.write("CREATE TABLE initiative(id TEXT PRIMARY KEY, title TEXT, status TEXT);\n")
        self.cli("a.db", "init", "--node-id", "mx.amexcid", "--schema", "schema.sql")
        self.cli("b.db", "init", "--node-id", "co.apc", "--schema", "schema.sql")
        key_a = json.loads(self.cli("a.db", "status", "--json"))["publicKey"]
        key_b = json.loads(self.cli("b.db", "status", "--json"))["publicKey"]
        self.cli("a.db", "roster", "add", "co.apc", key_b)
        self.cli("b.db", "roster", "add", "mx.amexcid", key_a)
        self.cli("a.db", "put", "initiative", '{"id":"XM-1","title":"Agua potable","status":"2"}')
        self.token_a, self.token_b = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self.tokens = [self.token_a, self.token_b]
        for name, token in [("tokA.txt", self.token_a), ("tokB.txt", self.token_b)]:
            with open(os.path.join(t, name), "w") as f:
                f.write(f"{secrets.token_urlsafe(24)}\n{token}\n")  # one per line: any of them signs in
            os.chmod(os.path.join(t, name), 0o600)
        self.b_url = self.serve("b.db", "tokB.txt")
        self.a_url = self.serve("a.db", "tokA.txt", peers=[self.b_url])
        self.cli("a.db", "sync", "--peer", self.b_url)
        self.check("Agua potable" in json.dumps(self.row("b.db", "initiative", "XM-1")), "co.apc has XM-1 after the first sync", fatal=True)
        self.title_conflict = self.make_conflict("title", "Agua potable rural", "Agua y saneamiento")

    def make_conflict(self, column, value_a, value_b):
        """Concurrent edits of XM-1's `column` on both nodes, then a sync: one new open conflict.
        co.apc's edit comes first: co.apc has no --peer, so its daemon cannot carry it over
        before mx.amexcid's edit is made (mx.amexcid's daemon may sync right after its own)."""
        before = {c["id"] for c in self.conflicts("a.db", all_=True)}
        self.cli("b.db", "put", "initiative", json.dumps({"id": "XM-1", column: value_b}, ensure_ascii=False))
        self.cli("a.db", "put", "initiative", json.dumps({"id": "XM-1", column: value_a}, ensure_ascii=False))
        self.cli("a.db", "sync", "--peer", self.b_url)
        new = [c for c in self.conflicts("a.db") if c["id"] not in before]
        self.check(len(new) == 1 and new[0]["column"] == column and new[0]["status"] == "open",
                   f"one new open conflict on initiative.{column} on mx.amexcid", url="(cli)", source=json.dumps(new), fatal=True)
        listed_b = self.conflicts("b.db")
        self.check(any(c["id"] == new[0]["id"] for c in listed_b), f"co.apc holds the same open conflict on initiative.{column}",
                   url="(cli)", source=json.dumps(listed_b))
        log(f"  conflict {new[0]['id']}: winner {new[0]['winner']['value']!r}, loser {new[0]['loser']['value']!r}")
        return new[0]

    def text(self, css):
        found = self.all(css)
        return found[0].text.strip() if found else None

    def a_sign_in_and_overview(self):
        self.sign_in(self.a_url, self.token_a, wrong_first=True, screenshot="signin.png")
        # The overview, in the browser's language.
        self.check(self.lang() == "es", f"overview follows Accept-Language: html[lang=es] (got lang={self.lang()!r})")
        self.check(self.text("#node-id") == "mx.amexcid", f"#node-id is mx.amexcid (got {self.text('#node-id')!r})")
        self.check(self.text("#open-conflicts") == "1", f"#open-conflicts is 1 (got {self.text('#open-conflicts')!r})")
        urls = [row.get_attribute("data-url") for row in self.all("table#peers tr.peer")]
        self.check(self.b_url in urls, f"table#peers has tr.peer[data-url={self.b_url}] (got {urls})")

    def a_language(self):
        """The switch links, and the choice sticks on the next page (cookie)."""
        a = self.a_url
        self.driver.get(a + "/console")
        self.click_and_load(self.find("a.lang[hreflang=pt]", "overview"))
        self.check(self.lang() == "pt", f"a.lang[hreflang=pt] gives html[lang=pt] (got {self.lang()!r})")
        self.click_and_load(self.find("a#nav-conflicts"))
        self.check(self.lang() == "pt", f"Portuguese sticks on the next page (got {self.lang()!r})")
        self.click_and_load(self.find("a.lang[hreflang=en]"))
        self.check(self.lang() == "en", f"a.lang[hreflang=en] gives html[lang=en] (got {self.lang()!r})")
        self.click_and_load(self.find("a#nav-overview"))
        self.check(self.lang() == "en", f"English sticks on the next page (got {self.lang()!r})")
        self.check(self.path() == "/console", f"a#nav-overview leads to /console (at {self.driver.current_url})")
        self.shot("overview.png")

        self.driver.set_window_size(390, 844)
        self.driver.get(a + "/console")
        overflow = self.driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        log(f"phone width: the page is {overflow}px wider than the 390px window" if overflow > 0 else "phone width: no horizontal overflow")
        self.shot("overview-phone.png")
        self.driver.set_window_size(1280, 900)

    def a_conflict(self):
        """The conflict: listed, shown, settled with the losing value."""
        conflict = self.title_conflict
        self.driver.get(self.a_url + "/console")
        self.click_and_load(self.find("a#nav-conflicts", "overview"))
        table = self.find("table#conflicts", "conflicts page")
        rows = self.all("tr.conflict", within=table)
        self.check(len(rows) == 1, f"table#conflicts has one tr.conflict (got {len(rows)})", fatal=not rows)
        self.check(rows[0].get_attribute("data-status") == "open", f"the tr.conflict has data-status=open (got {rows[0].get_attribute('data-status')!r})")
        self.check(rows[0].get_attribute("data-id") == conflict["id"], f"the tr.conflict has data-id={conflict['id']} (got {rows[0].get_attribute('data-id')!r})")
        self.shot("conflicts.png")
        self.click_and_load(self.find("a.conflict-link", "the tr.conflict", within=rows[0]))
        page = self.driver.current_url
        self.find("#conflict", "conflict page")
        self.check(bool(self.all("#conflict[data-status=open]")), "conflict page shows #conflict[data-status=open]")
        winner, loser = json.dumps(conflict["winner"]["value"], ensure_ascii=False), json.dumps(conflict["loser"]["value"], ensure_ascii=False)
        shown_winner, shown_loser = self.text("#winner-value") or "", self.text("#loser-value") or ""
        self.check(winner in shown_winner, f"#winner-value contains {winner} (got {shown_winner!r})")
        self.check(loser in shown_loser, f"#loser-value contains {loser} (got {shown_loser!r})")
        self.shot("conflict.png")
        self.click_and_load(self.find("button", "form#take-loser", within=self.find("form#take-loser", "conflict page")))
        self.check(self.driver.current_url.split("?")[0].split("#")[0] == page.split("?")[0].split("#")[0],
                   f"taking the loser returns to the same conflict page {page} (at {self.driver.current_url})")
        self.check(bool(self.all("#conflict[data-status=resolved]")), "the conflict page then shows #conflict[data-status=resolved]")
        self.check(bool(self.all("p#flash")), "the conflict page then shows p#flash")
        self.shot("conflict-resolved.png")
        settled = self.conflict("a.db", conflict["id"])
        self.check(settled is not None and settled["status"] == "resolved", f"CLI: conflict {conflict['id']} is resolved on mx.amexcid",
                   url="(cli)", source=json.dumps(settled))
        title_a = self.row("a.db", "initiative", "XM-1").get("title")
        self.check(title_a == conflict["loser"]["value"], f"CLI: XM-1's title on mx.amexcid is the loser's {loser} (got {title_a!r})")

    def a_sync_now(self):
        """Sync now with co.apc from the overview."""
        self.driver.get(self.a_url + "/console/conflicts")
        title_a = self.row("a.db", "initiative", "XM-1").get("title")
        self.click_and_load(self.find("a#nav-overview", "conflicts page"))
        peer = self.find(f'tr.peer[data-url="{self.b_url}"]', "overview")
        self.click_and_load(self.find("form.sync-now button", f"tr.peer[data-url={self.b_url}]", within=peer))
        self.check(self.path() == "/console", f"sync now returns to the overview (at {self.driver.current_url})")
        self.check(bool(self.all("p#flash")), "sync now shows p#flash")
        deadline, title_b = time.monotonic() + 10, None
        while time.monotonic() < deadline:
            title_b = self.row("b.db", "initiative", "XM-1").get("title")
            if title_b == title_a:
                break
            time.sleep(0.5)
        self.check(title_b == title_a, f"CLI: co.apc's XM-1 title equals mx.amexcid's {title_a!r} after sync now (got {title_b!r})")

    def a_records(self):
        self.driver.get(self.a_url + "/console")
        self.click_and_load(self.find("a#nav-records", "overview"))
        tables = self.find("table#tables", "records page")
        self.check(bool(self.all("tr.table[data-table=initiative]", within=tables)), "table#tables has tr.table[data-table=initiative]")
        self.shot("records.png")
        form = self.find("form#record-search", "records page")
        Select(self.find("select[name=table]", "form#record-search", within=form)).select_by_value("initiative")
        key = self.find("input[name=key]", "form#record-search", within=form)
        key.clear()
        key.send_keys("XM-1")
        self.submit_form(form)
        self.check(bool(self.all("table#row")), "the record page shows table#row")
        history = self.all("table#history tr.change")
        self.check(len(history) >= 3, f"table#history has at least 3 tr.change rows (got {len(history)})")
        self.shot("record.png")

    def a_roster(self):
        self.driver.get(self.a_url + "/console")
        self.click_and_load(self.find("a#nav-roster", "overview"))
        roster = self.find("table#roster", "roster page")
        self.check(bool(self.all('tr.member[data-node="co.apc"]', within=roster)), 'table#roster has tr.member[data-node="co.apc"]')
        self.shot("roster.png")

    def a_sign_out(self):
        self.driver.get(self.a_url + "/console")
        self.click_and_load(self.find("button", "form#signout", within=self.find("form#signout", "overview")))
        self.driver.get(self.a_url + "/console")
        self.check(self.path() == "/console/signin", f"after signing out, GET /console redirects to sign-in (at {self.driver.current_url})")

    def browser_b(self):
        # Cookies are per host, not per port: start clean so mx.amexcid's cookies play no part.
        self.driver.delete_all_cookies()
        self.sign_in(self.b_url, self.token_b)
        self.check(self.text("#node-id") == "co.apc", f"co.apc's overview shows #node-id co.apc (got {self.text('#node-id')!r})")
        self.click_and_load(self.find("a#nav-conflicts", "overview"))
        form = self.find("form#conflict-filter", "conflicts page")
        Select(self.find("select[name=status]", "form#conflict-filter", within=form)).select_by_value("all")
        self.submit_form(form)
        rows = self.all("table#conflicts tr.conflict")
        statuses = {row.get_attribute("data-id"): row.get_attribute("data-status") for row in rows}
        cid = self.title_conflict["id"]
        self.check(statuses.get(cid) == "resolved", f"on co.apc, with status=all, tr.conflict[data-id={cid}] has data-status=resolved (got {statuses})")
        self.shot("other-node-conflict.png")
        self.driver.delete_all_cookies()

    def quit_browser(self):
        if self.driver is not None:
            self.driver.quit()
            self.driver = None

    # ---------------------------------------------------------------- refusals, without a browser

    def refusals(self):
        a = self.a_url
        second = self.make_conflict("status", "4", "3")
        cid = second["id"]
        resolve = f"{a}/console/conflicts/{cid}/resolve"

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        def request(opener, method, url, fields=None):
            data = urllib.parse.urlencode(fields).encode() if fields is not None else None
            req = urllib.request.Request(url, data=data, method=method)
            if data is not None:
                req.add_header("Content-Type", "application/x-www-form-urlencoded")
            try:
                response = opener.open(req, timeout=30)
            except urllib.error.HTTPError as error:
                response = error
            body = response.read().decode("utf-8", "replace")
            shown = ", ".join(f"{k}=…" if k in ("token", "csrf") else f"{k}={v}" for k, v in (fields or {}).items())
            log(f"{method} {url} ({shown}) -> {response.status}")
            return response.status, response.headers, body

        def refused(status, headers, what, body):
            location = urllib.parse.urlsplit(headers.get("Location") or "").path.rstrip("/")
            self.check(status == 403 or (status == 303 and location == "/console/signin"),
                       f"{what}: 403, or 303 to /console/signin (got {status}, Location {headers.get('Location')!r})", url=what, source=body)

        def still_open(what):
            state = self.conflict("a.db", cid)
            self.check(state is not None and state["status"] == "open", f"CLI: conflict {cid} stays open after {what}", url="(cli)", source=json.dumps(state))

        bare = urllib.request.build_opener(NoRedirect())
        status, headers, body = request(bare, "POST", resolve, {"action": "take-loser"})
        refused(status, headers, "POST resolve without a session", body)
        still_open("a POST without a session")

        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(NoRedirect(), urllib.request.HTTPCookieProcessor(jar))
        status, headers, body = request(opener, "POST", f"{a}/console/signin", {"token": self.token_a})
        self.check(status == 303, f"POST /console/signin with the token answers 303 (got {status})", url="POST /console/signin", source=body)
        cookies = [c for c in headers.get_all("Set-Cookie") or [] if c.startswith("minga_session=")]
        self.check(bool(cookies), f"POST /console/signin sets minga_session (Set-Cookie: {headers.get_all('Set-Cookie')})", fatal=True,
                   url="POST /console/signin", source=body)
        attributes = [part.strip().lower() for part in cookies[0].split(";")[1:]]
        self.check("httponly" in attributes, f"the session cookie is HttpOnly (attributes {attributes})")
        self.check("samesite=strict" in attributes, f"the session cookie is SameSite=Strict (attributes {attributes})")
        self.check(self.token_a not in cookies[0], "the session cookie is not the console token itself")

        status, headers, body = request(opener, "POST", resolve, {"action": "take-loser"})
        self.check(status == 403, f"POST resolve with a session but no csrf field: 403 (got {status})", url="POST resolve", source=body)
        still_open("a POST without csrf")
        status, headers, body = request(opener, "POST", resolve, {"action": "take-loser", "csrf": "0" * 32})
        self.check(status == 403, f"POST resolve with a session and a wrong csrf: 403 (got {status})", url="POST resolve", source=body)
        still_open("a POST with a wrong csrf")

        status, headers, body = request(opener, "GET", f"{a}/console/conflicts/{cid}")
        self.check(status == 200, f"GET /console/conflicts/{cid} with the session: 200 (got {status})", url="GET conflict", source=body)
        csrf = hidden_value(body, "csrf")
        self.check(csrf is not None, "the conflict page carries input[name=csrf]", url="GET conflict", source=body, fatal=True)
        status, headers, body = request(opener, "POST", resolve, {"action": "take-loser", "csrf": csrf})
        self.check(status == 303, f"POST resolve with the session and the page's csrf: 303 (got {status})", url="POST resolve", source=body)
        state = self.conflict("a.db", cid)
        self.check(state is not None and state["status"] == "resolved", f"CLI: conflict {cid} is resolved with the csrf token", url="(cli)", source=json.dumps(state))

        # Sync now without a session: refused, and no sync is attempted.
        time.sleep(2)  # let any sync the daemon started after the last local write finish
        before = json.loads(self.cli("a.db", "status", "--json")).get("peers")
        time.sleep(1.1)  # so that an attempt would show as a later lastAttempt
        status, headers, body = request(bare, "POST", f"{a}/console/peers/sync", {"url": self.b_url, "peer": self.b_url})
        refused(status, headers, "POST /console/peers/sync without a session", body)
        time.sleep(2)
        after = json.loads(self.cli("a.db", "status", "--json")).get("peers")
        self.check(before == after, "no sync was attempted (the peers in status --json are unchanged)", url="(cli)",
                   source=json.dumps({"before": before, "after": after}, indent=1))

    # ---------------------------------------------------------------- main

    def main(self):
        os.makedirs(self.out, exist_ok=True)
        for name in os.listdir(self.out):
            if name.endswith(".png"):
                os.remove(os.path.join(self.out, name))
        log(f"minga {self.minga}; work dir {self.tmp}; screenshots in {self.out}")
        try:
            # Each phase runs even when an earlier one stopped at a failed check (all but setup).
            phases = [self.setup, self.start_browser, self.a_sign_in_and_overview, self.a_language, self.a_conflict, self.a_sync_now,
                      self.a_records, self.a_roster, self.a_sign_out, self.browser_b, self.quit_browser, self.refusals]
            for phase in phases:
                log(f"--- {phase.__name__}")
                try:
                    phase()
                except Fatal:
                    if phase in (self.setup, self.start_browser, self.a_sign_in_and_overview):
                        break
                except (TimeExpired, KeyboardInterrupt):
                    raise
                except Exception as error:
                    traceback.print_exc()
                    try:
                        self.fail(f"{phase.__name__}: unexpected {type(error).__name__}: {error}".splitlines()[0])
                    except Fatal:
                        pass
                    if phase in (self.setup, self.start_browser):
                        break
        except TimeExpired:
            self.fail(f"the run took longer than {self.args.timeout} s")
        finally:
            signal.alarm(0)
            if self.driver is not None:
                try:
                    self.driver.quit()
                except Exception:
                    pass
                self.driver = None
            self.stop_servers()
            if self.args.keep:
                log(f"kept {self.tmp}")
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)
        shots = sorted(n for n in os.listdir(self.out) if n.endswith(".png"))
        log(f"screenshots: {', '.join(shots)}")
        if self.failures:
            print(f"\n{len(self.failures)} check(s) failed:", flush=True)
            for n, what in enumerate(self.failures, 1):
                print(f"  {n}. {what}", flush=True)
            return 1
        print("\nall checks hold", flush=True)
        return 0


class TimeExpired(Exception):
    pass


def hidden_value(page, name):
    """The value of the first <input name=NAME> in `page`."""
    class Finder(html.parser.HTMLParser):
        value = None

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "input" and attrs.get("name") == name and self.value is None:
                self.value = attrs.get("value") or ""
    finder = Finder()
    finder.feed(page)
    return finder.value


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minga", required=True, help="the built minga binary")
    parser.add_argument("--out", required=True, help="folder for the screenshots (created)")
    parser.add_argument("--timeout", type=int, default=200, help="seconds the whole run may take")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (replicas, logs)")
    args = parser.parse_args()
    missing = [p for p, path in [("chromium", CHROMIUM), ("chromium-driver", CHROMEDRIVER)] if not os.access(path, os.X_OK)]
    if missing:
        print(f"MISSING: {', '.join(missing)}; install the Debian packages: apt-get install -y {PACKAGES}", flush=True)
        return 3
    if not os.access(args.minga, os.X_OK):
        print(f"no minga binary at {args.minga}", flush=True)
        return 2

    def expired(signum, frame):
        raise TimeExpired()
    signal.signal(signal.SIGALRM, expired)
    signal.alarm(args.timeout)
    return Run(args).main()


if __name__ == "__main__":
    sys.exit(main())
