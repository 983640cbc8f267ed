"""The seed's question, from Python: how long do 4 epochs of the resnet34 pets classifier take here?

Oxford-IIIT Pet: 7,390 images, 20 % held out for validation (fastai's default), 4 epochs.
The seed's published run took 2:24:00 on a laptop CPU and 01:46 on a Colab GPU.

    python examples/pets_on_this_machine.py            # uses (or makes) this machine's profile
"""

import advisor
from advisor import Workload, to_dataframe
from advisor.model.units import hms

pets = Workload(model="resnet34", image_size=224, batch_size=64, dataset_size=7390, epochs=4)
fine_tune = pets.with_(frozen_epochs=1)  # fastai's fine_tune: one frozen epoch first

# this machine's saved profile; without one, advisor measures it first (about a minute)
rows = [advisor.estimate(w) for w in (pets, fine_tune)]
for label, e in zip(("4 epochs", "1 frozen + 4 epochs"), rows):
    print(f"{label:<20} {hms(e.seconds)}  (band {hms(e.seconds_low)} to {hms(e.seconds_high)}), "
          f"{e.train_images_per_s:.1f} train images/s on {e.accelerator}, bottleneck: {e.bottleneck}")
print("seed's laptop CPU:    2:24:00; seed's Colab GPU: 0:01:46")
print(to_dataframe(rows)[["workload_frozen_epochs", "seconds", "seconds_low", "seconds_high",
                          "train_images_per_s", "basis"]].to_string(index=False))
