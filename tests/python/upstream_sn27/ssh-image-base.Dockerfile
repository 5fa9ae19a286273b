# ssh-image-base as SN27 v2.2.1's `build_sample_container` makes it, on the Debian test base
# image instead of pytorch/pytorch:2.8.0-cuda12.8-cudnn9-runtime (no registry is reachable).
# Skipped: `apt-get install openssh-server python3-pip build-essential` (the base has sshd),
# the conda activation in /root/.bashrc, and `pip3 install --upgrade pip numpy==1.24.3` (the
# Proof-of-GPU worker's CPU test mode does not need numpy; without it, it takes its
# pure-Python path where upstream's image would take the numpy one).
# Added: /opt/conda/bin/python, the pytorch image's interpreter, is Debian's python3 here.
ARG BASE
FROM ${BASE}
ENV DEBIAN_FRONTEND=noninteractive
ENV PATH="/opt/conda/bin:$PATH"
RUN mkdir -p /opt/conda/bin && ln -sf /usr/bin/python3 /opt/conda/bin/python
RUN mkdir -p /var/run/sshd && \
    sed -i 's/#PermitRootLogin prohibit-password/PermitRootLogin yes/' /etc/ssh/sshd_config && \
    sed -i 's/#PasswordAuthentication yes/PasswordAuthentication yes/' /etc/ssh/sshd_config && \
    sed -i 's/#PubkeyAuthentication yes/PubkeyAuthentication yes/' /etc/ssh/sshd_config && \
    sed -i 's/#ListenAddress 0.0.0.0/ListenAddress 0.0.0.0/' /etc/ssh/sshd_config
RUN mkdir -p /root/.ssh/ && echo '' > /root/.ssh/authorized_keys && chmod 600 /root/.ssh/authorized_keys
RUN ln -sf /opt/conda/bin/python /usr/local/bin/python3
CMD ["/usr/sbin/sshd", "-D"]
# Upstream pastes a fresh random password into this line, so each build differs; here the line
# is constant and the layer cache keeps one. Every allocation sets its own on top.
RUN echo "root:$(head -c 12 /dev/urandom | base64)" | chpasswd
