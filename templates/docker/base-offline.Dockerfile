# Offline base image for generated servers on machines without PyPI / Docker Hub:
# Debian bookworm's python3 with FastAPI, uvicorn, NumPy and torch (TorchScript runtime).
# Built by main/docker/base-image.ts as frameworm/base-offline:<hash of this file>.
FROM local/bookworm-min
RUN apt-get update --error-on=any && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-fastapi python3-uvicorn python3-numpy python3-torch && apt-get clean && rm -rf /var/lib/apt/lists/*
