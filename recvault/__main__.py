from recvault.cli import main

main()
