#!/bin/sh
# Gradescope runs this once, as root, while it builds the autograder image.
# svmlab needs a C toolchain, QEMU (system emulator for x86-64) and Python 3;
# everything else comes from the zip (see docs/instructor.md, "Gradescope").
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq build-essential qemu-system-x86 python3 >/dev/null
# The graders were calibrated on QEMU 7.2; an older QEMU may differ (see
# docs/svm-primer.md section 11). Show the version in the image build log.
qemu-system-x86_64 --version | head -n 1
gcc --version | head -n 1
