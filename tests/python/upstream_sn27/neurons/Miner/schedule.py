"""SN27 v2.2.1's `start`: replaces every queued `at` job with one that runs
`./neurons/Miner/kill_container` `delay_days` days from now."""

import datetime
import subprocess


def start(delay_days):
    when = datetime.datetime.now() + datetime.timedelta(days=delay_days)
    for line in subprocess.check_output(["atq"], text=True).splitlines():
        subprocess.run(["atrm", line.split()[0]], check=True)
    subprocess.run(
        ["at", when.strftime("%H:%M %m/%d/%Y")],
        input="./neurons/Miner/kill_container\n",
        text=True,
        check=True,
    )
