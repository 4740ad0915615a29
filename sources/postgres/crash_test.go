package postgres

const crashChildEnv = "SLUICE_POSTGRES_CRASH_CHILD"

func crashChild() int { return 1 }
