from recvault.cli.app import main

main()
