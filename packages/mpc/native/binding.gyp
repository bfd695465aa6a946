{
  "targets": [
    {
      "target_name": "cosigner_bn",
      "sources": ["src/cosigner_bn.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-fvisibility=hidden"],
      "defines": ["NAPI_VERSION=8"],
      "libraries": []
    }
  ]
}
