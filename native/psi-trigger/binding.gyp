{
  "targets": [
    {
      "target_name": "psi_trigger",
      "sources": ["psi_trigger.c"],
      "cflags": ["-Wall", "-Wextra", "-O2"]
    }
  ]
}
