svclab/node:bookworm-1
