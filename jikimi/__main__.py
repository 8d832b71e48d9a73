from jikimi.cli import main

main()
