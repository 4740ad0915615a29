package sqltable

const crashChildEnv = "SLUICE_SQLTABLE_CRASH_CHILD"

func crashChild() int { return 1 }
