"""The local Kafka broker from the official jars: install, one node, a cluster, TLS and SCRAM."""
