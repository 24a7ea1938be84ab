from kopsgen.fastpath import main

main()
