from amr_grpo.cli import main

main()
