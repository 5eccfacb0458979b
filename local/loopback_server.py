"""azmlinfsrv itself, bound to 127.0.0.1 instead of 0.0.0.0: the local rehearsal serves nobody else.

    python -m local.loopback_server --entry_script model/src/score.py --model_dir model/artifacts --port 5001

Every argument and environment variable is azmlinfsrv's own; only the bind address differs.
"""
import sys

from azureml_inference_server_http import amlserver

LOOPBACK = "127.0.0.1"

if __name__ == "__main__":
    amlserver.DEFAULT_HOST = LOOPBACK
    sys.exit(amlserver.run())
