"""A statement review approved, then the policy reloaded to deny its class, from inside bob's
session (whose connection was judged under the old guardrails). Prints a JSON summary."""
import json
import os
import re
import subprocess

import psycopg

hoopctl = os.environ["HOOPCTL_BIN"]
policy = os.environ["POLICY"]
conn = psycopg.connect("", autocommit=True)
summary = {}


def hoop(token, *arguments):
    env = dict(os.environ)
    env.pop("HOOPCTL_TOKEN", None)
    if token:
        env["HOOPCTL_TOKEN"] = token
    return subprocess.run([hoopctl, *arguments], env=env, capture_output=True, text=True)


def attempt(sql):
    try:
        conn.execute(sql)
        return None
    except psycopg.Error as error:
        return error.diag.message_primary or str(error)


ddl = "create table public.rt_reload_scratch (x int)"
first = attempt(ddl)
request = re.search(r"request ([0-9a-f]{12})", first).group(1)
assert hoop(os.environ["ALICE"], "approve", request).returncode == 0
with open(policy) as f:
    text = f.read()
assert "ddl: review" in text
with open(policy, "w") as f:
    f.write(text.replace("ddl: review", "ddl: deny", 1))
reload = hoop(None, "policy", "reload")
assert reload.returncode == 0, reload.stderr
summary["after_reload"] = json.loads(hoop(None, "requests", "show", request, "--json").stdout)["state"]
summary["run"] = attempt(ddl)
summary["another"] = attempt("create table public.rt_reload_other (x int)")
# A review left waiting when the session ends.
waiting = attempt("update orders set amount = amount")
summary["waiting"] = re.search(r"request ([0-9a-f]{12})", waiting or "").group(1) if waiting and "request" in waiting else waiting
print(json.dumps(summary))
