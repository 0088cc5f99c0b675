from stratlab.cli.app import main

main()
