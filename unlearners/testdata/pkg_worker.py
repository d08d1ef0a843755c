"""A worker on the real package for TestExecWorkerPackageLoop: prints on
stdout (which must reach the member's stdout file, not the protocol
channel), fails the member of seed 3, returns the original otherwise."""
import unlearnbench


def unlearn(model, member, seed):
    print("hello from seed", seed)
    if seed == 3:
        raise ValueError("seed 3 is refused")
    return model


unlearnbench.main(unlearn)
