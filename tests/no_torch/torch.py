"""Put first on PYTHONPATH by tests that build the DAG: parsing the workflow must not import torch."""
raise ImportError("torch was imported while the workflow was parsed; import it inside the rule's script or library module")
