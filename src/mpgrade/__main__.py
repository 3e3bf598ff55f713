from mpgrade.cli import run

run()
