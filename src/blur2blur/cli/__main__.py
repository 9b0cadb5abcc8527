from blur2blur.cli import main

main()
