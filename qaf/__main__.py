from qaf.cli import main

main()
